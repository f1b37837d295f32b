//! Review round S (issue 16): the gate's promise — an allow covers only what the person meant, and a token never claims a person who was not asked.
mod tokens;
