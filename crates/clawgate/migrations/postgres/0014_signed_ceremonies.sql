-- What a decision ceremony's passkey signs: the content decided (canonical JSON) and the server's
-- 16-byte nonce (base64url), from which its WebAuthn challenge was derived
-- (`clawgate_proto::evidence`). NULL for sign-in and registration ceremonies.
-- Keep in step with the other backend's folder.
ALTER TABLE ceremonies ADD COLUMN signed TEXT;
