use crate::rules::path::{PathCondition, Root, normalize, resolve};
use crate::rules::pattern::{CommandPattern, Glob};
use crate::rules::shell::{Part, SimpleCommand, split};

fn glob(g: &str) -> Glob {
    Glob::parse(g).expect("valid glob")
}

fn cmd(text: &str) -> SimpleCommand {
    match split(text).into_iter().next() {
        Some(Part::Command(cmd)) => cmd,
        other => panic!("{text}: {other:?}"),
    }
}

fn matches(pattern: &str, text: &str) -> bool {
    CommandPattern::parse(pattern).expect("valid pattern").matches(&cmd(text))
}

#[test]
fn globs_match_whole_strings() {
    assert!(glob("ci-*").matches("ci-42"));
    assert!(!glob("ci-*").matches("my-ci-42"));
    assert!(glob("Bash").matches("Bash"));
    assert!(!glob("Bash").matches("bash"));
    assert!(glob("a?c").matches("abc"));
    assert!(!glob("a?c").matches("ac"));
    assert!(glob("*").matches(""));
    assert!(glob("-*[rRf]*").matches("-rf"));
    assert!(glob("-*[rRf]*").matches("-vf"));
    assert!(!glob("-*[rRf]*").matches("-v"));
    assert!(glob("[a-c]x").matches("bx"));
    assert!(!glob("[!a-c]x").matches("bx"));
    assert!(glob("[^a-c]x").matches("dx"));
    assert!(glob("[]]").matches("]"));
    assert!(glob("[a-]").matches("-"));
    assert!(glob(r"/\*").matches("/*"));
    assert!(!glob(r"/\*").matches("/etc"));
    assert!(glob("*a*b*c").matches("xxaybzzbc"));
    assert!(!glob("*a*b*c").matches("xxaybzzb"));
}

#[test]
fn bad_globs_are_refused() {
    assert_eq!(Glob::parse("[abc").expect_err("refused"), "`[abc` has an unclosed `[`");
    assert_eq!(Glob::parse("ab\\").expect_err("refused"), "`ab\\` ends with `\\`");
    assert_eq!(Glob::parse("[z-a]").expect_err("refused"), "`[z-a]` has the reversed range `z-a`");
    assert_eq!(Glob::parse("").expect_err("refused"), "an empty glob");
    assert_eq!(CommandPattern::parse("  ").expect_err("refused"), "an empty command pattern");
}

#[test]
fn command_patterns_are_subsequences() {
    assert!(matches("git push --force", "git -C repo push origin --force"));
    assert!(matches("git push --force", "/usr/bin/git push --force"));
    assert!(!matches("git push --force", "git --force push"));
    assert!(!matches("git push --force", "git commit -m 'push --force'"));
    assert!(matches("rm -*[rRf]*", "sudo rm -v -f y"));
    assert!(!matches("rm -*[rRf]*", "rm file.txt"));
    assert!(!matches("rm -*[rRf]*", "confirm -r"));
    assert!(matches("git", "git status"));
    assert!(matches("mkfs.*", "mkfs.ext4 /dev/sdb1"));
    // A pattern with a path compares the program's whole word.
    assert!(matches("/usr/bin/rm", "/usr/bin/rm x"));
    assert!(!matches("/usr/bin/rm", "rm x"));
}

#[test]
fn paths_resolve_lexically() {
    assert_eq!(resolve("../b/./c", Some("/home/a")), Some(vec!["home".into(), "b".into(), "c".into()]));
    assert_eq!(resolve("/../../etc", None), Some(vec!["etc".into()]));
    assert_eq!(resolve("rel", None), None);
    assert_eq!(resolve("rel", Some("not-absolute")), None);
    assert_eq!(normalize("/a/./b/../c/"), Some("/a/c".into()));

    let project = PathCondition::Inside(vec![
        Root::parse("{cwd}").expect("root"),
        Root::parse("/srv/app").expect("root"),
    ]);
    let cwd = Some("/home/ada/project");
    assert!(project.holds("src/main.rs", cwd));
    assert!(project.holds("/home/ada/project/src/main.rs", cwd));
    assert!(project.holds("/srv/app/x", cwd));
    assert!(!project.holds("/home/ada/project/../.ssh/authorized_keys", cwd));
    assert!(!project.holds("/home/ada/project-other/x", cwd));
    assert!(!project.holds("../x", cwd));
    assert!(!project.holds("src/main.rs", None), "relative without a cwd is unknown");
    assert!(project.holds("/srv/app/x", None), "the other root still resolves");

    let outside = PathCondition::Outside(vec![Root::parse("{cwd}").expect("root")]);
    assert!(outside.holds("/home/ada/.bashrc", cwd));
    assert!(outside.holds("../../.bashrc", cwd));
    assert!(!outside.holds("./a/../b", cwd));
    assert!(!outside.holds("/etc/passwd", None), "outside an unknown cwd is not assumed");

    assert!(Root::parse("{cwd}/sub").is_ok());
    assert!(Root::parse("relative").is_err());
    assert!(Root::parse("{cwd}x").is_err());
}

fn in_place(pattern: &str, text: &str) -> bool {
    CommandPattern::parse(pattern).expect("valid pattern").matches_in_place(&cmd(text))
}

/// H1: an allow pattern's words are the command's first words, in place.
#[test]
fn allow_patterns_match_in_place() {
    assert!(in_place("git status", "git status"));
    assert!(in_place("git status", "git status --short"));
    assert!(in_place("git push", "git push origin main"), "words after the pattern's are free");
    assert!(in_place("git log", "git --no-pager log -n 3"), "git's table lets --no-pager be skipped");
    assert!(in_place("cargo test", "cargo -q test"));
    assert!(in_place("git *", "git anything"));
    assert!(!in_place("git status", "git push --force origin status"));
    assert!(!in_place("git log", "git reset --hard log"));
    assert!(!in_place("cargo test", "cargo publish -p test"));
    assert!(!in_place("npm test", "npm publish --tag test"));
    assert!(!in_place("git status", "git -C /tmp status"), "-C is not skippable");
    assert!(!in_place("git status", "git"));
    assert!(!in_place("ls -l", "ls -a -l"));
    assert!(!in_place("git status", "/tmp/x/git status"), "a bare name allows the program on PATH only");
    assert!(!in_place("git status", "./git status"));
    assert!(in_place("/usr/bin/git status", "/usr/bin/git status"));
    // Broad matching, for ask and deny, still finds the words anywhere in order.
    assert!(matches("git status", "git push --force origin status"));
}
