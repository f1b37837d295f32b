//! The command line: flags as clap reads them, files as the command reads them, and the help.

use super::checkpoints::checkpoint;
use super::good;
use crate::audit::*;
use clap::{CommandFactory, Parser, Subcommand};

/// The place `audit` has in the `clawgate` binary.
#[derive(Debug, Parser)]
#[command(name = "clawgate")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Check your receipts offline.
    #[command(subcommand, long_about = ABOUT)]
    Audit(AuditCommand),
}

fn args(line: &[&str]) -> AuditVerifyArgs {
    let cli = Cli::try_parse_from([&["clawgate", "audit", "verify"], line].concat()).expect("parsed");
    match cli.command {
        Top::Audit(AuditCommand::Verify(args)) => args,
    }
}

#[test]
fn files_are_read_and_the_chain_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, _) = good();
    let (jwt, keys) = checkpoint(&b, 9);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let chain = write("chain.json", serde_json::to_string(&b.chain()).expect("json"));
    let cp = write("cp.json", serde_json::json!({ "checkpoint": jwt }).to_string());
    let raw = write("cp.jwt", format!("{jwt}\n"));
    let jwks = write("jwks.json", serde_json::to_string(&keys).expect("json"));
    let line = [chain.as_str(), "--checkpoint", &cp, "--checkpoint", &raw, "--jwks", &jwks];
    let (file, opts) = load(&args(&line)).expect("loaded");
    assert_eq!(opts.checkpoints.len(), 2);
    let summary = verify_chain(&file, &opts).expect("holds");
    assert_eq!(summary.checkpoints.len(), 2);

    let e = load(&args(&[&chain, "--checkpoint", &cp])).expect_err("no --jwks");
    assert_eq!((e.category.exit_code(), e.message.as_str()), (crate::EXIT_USAGE, CHECKPOINT_NEEDS_JWKS));
    let pinned = args(&[&chain, "--origin", "https://gate.example.com/", "--rp-id", "gate.example.com"]);
    let (file, opts) = load(&pinned).expect("loaded");
    assert_eq!(opts.origin.as_deref(), Some("https://gate.example.com"));
    assert!(verify_chain(&file, &opts).is_ok());

    let broken = write("broken.json", "{\"format\": \"clawgate-chain/1\"".into());
    let e = load(&args(&[&broken])).expect_err("malformed");
    assert_eq!(e.category, Category::Input);
    assert!(e.message.contains("not a clawgate chain file"), "{e}");
    let e = load(&args(&["/no/such/chain.json"])).expect_err("missing");
    assert!(e.message.starts_with("cannot read the chain /no/such/chain.json"), "{e}");
}

#[test]
fn usage_errors_are_claps_with_code_2() {
    let e = Cli::try_parse_from(["clawgate", "audit", "verify"]).expect_err("no chain");
    assert_eq!(e.exit_code(), i32::from(crate::EXIT_USAGE));
    let e = Cli::try_parse_from(["clawgate", "audit", "verify", "c.json", "--no-such"]).expect_err("flag");
    assert_eq!(e.exit_code(), i32::from(crate::EXIT_USAGE));
}

#[test]
fn the_help_says_where_a_chain_comes_from_and_what_each_code_means() {
    let mut cli = Cli::command();
    let audit = cli.find_subcommand_mut("audit").expect("audit").render_long_help().to_string();
    assert!(audit.contains("GET /api/v1/audit/receipts"), "{audit}");
    assert!(audit.contains("Receipts, then Download the chain"), "{audit}");
    let verify = cli
        .find_subcommand_mut("audit")
        .and_then(|a| a.find_subcommand_mut("verify"))
        .expect("verify")
        .render_long_help()
        .to_string();
    for code in ["  6  audit verify", "  7  audit verify", "  8  audit verify", "--checkpoint <FILE>"] {
        assert!(verify.contains(code), "{verify}");
    }
}

#[test]
fn the_exit_code_says_what_kind_of_failure() {
    use std::process::ExitCode;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut b, _) = good();
    let path = dir.path().join("chain.json");
    let verify = |chain: &clawgate_proto::evidence::receipt::ChainFile| {
        std::fs::write(&path, serde_json::to_string(chain).expect("json")).expect("write");
        run(AuditCommand::Verify(args(&[path.to_str().expect("utf-8"), "--json"])))
    };
    assert_eq!(verify(&b.chain()), ExitCode::from(crate::EXIT_OK));
    b.receipts[4].content["signed"]["action"] = serde_json::json!("ls");
    assert_eq!(verify(&b.chain()), ExitCode::from(crate::EXIT_ALTERED));
    super::rehash(&mut b.receipts, 4);
    assert_eq!(verify(&b.chain()), ExitCode::from(crate::EXIT_EVIDENCE));
}
