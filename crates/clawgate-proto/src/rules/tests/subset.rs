//! What lies inside the subset of bash the splitter understands, and what puts a command outside.

use crate::rules::shell::{Part, UnclearWhy, split};

/// The doubt of each command part, in order (`None` for an understood one).
fn doubts(text: &str) -> Vec<Option<UnclearWhy>> {
    split(text)
        .iter()
        .filter_map(|p| match p {
            Part::Command(cmd) => Some(cmd.doubt.as_ref().map(|u| u.why)),
            Part::Unclear(_) => None,
        })
        .collect()
}

fn doubt(text: &str) -> Option<UnclearWhy> {
    doubts(text).into_iter().flatten().next()
}

#[test]
fn plain_commands_are_understood() {
    for text in [
        "git status",
        "git --no-pager log --oneline -n 5",
        "cargo test --release -- --nocapture",
        "cargo build 2>&1 | tail -n 20",
        "ls -la ~ *.rs 2>/dev/null",
        "echo \"$HOME\" $(date) `pwd`",
        "cat $FILE",
        "grep -rn 'TODO' src",
        "find . -name '*.rs' -print",
        "sed -n 's/a/b/gp' f",
        "sed -E -e '1,/^$/d' -e 's|x|y|' f",
        "awk '{print $1}' f",
        "tar -czf out.tgz src",
        "rsync -avz src/ host:dst/",
        "nice -n 5 timeout 10 cargo test",
        "env -i cargo test",
        "set -euo pipefail",
        "printf '%s\\n' a b",
        "test -f x",
        "curl -fsSL https://example.com",
        "git config --get user.name",
        "npm test",
        "ssh host ls",
        "bash -lc 'npm test'",
        "bash -o pipefail -c 'ls | wc -l'",
        "cd sub && make test",
    ] {
        assert_eq!(doubts(text).iter().flatten().next(), None, "{text}");
    }
}

/// M2, H2 and C3: what the review found allowed, each outside the subset now.
#[test]
fn what_the_review_found_is_outside() {
    for (text, why) in [
        ("git -c core.fsmonitor='touch x' status", UnclearWhy::RiskyOption),
        (
            "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=x git status",
            UnclearWhy::Assignment,
        ),
        ("git log --format=%H --output=/root/.bashrc", UnclearWhy::RiskyOption),
        ("git log --outp=/root/.bashrc", UnclearWhy::RiskyOption),
        ("PATH=/tmp/evil:$PATH git status", UnclearWhy::Assignment),
        ("LD_PRELOAD=/tmp/x.so ls", UnclearWhy::Assignment),
        ("env LD_PRELOAD=/tmp/x.so ls", UnclearWhy::Assignment),
        ("sed -n '1e id' f", UnclearWhy::RiskyOption),
        ("sed 's/a/b/w out' f", UnclearWhy::RiskyOption),
        ("sed -i 's/a/b/' f", UnclearWhy::RiskyOption),
        ("sed -ni 's/a/b/p' f", UnclearWhy::RiskyOption),
        ("sed ':a;N;ba; w out' f", UnclearWhy::RiskyOption),
        ("awk 'BEGIN{system(\"id\")}'", UnclearWhy::RiskyOption),
        ("awk '{print > \"out\"}' f", UnclearWhy::RiskyOption),
        ("find . -fprintf out '%p'", UnclearWhy::RiskyOption),
        ("find ~ -delete", UnclearWhy::RiskyOption),
        ("cargo test --config 'target.x.runner=\"sh -c id\"'", UnclearWhy::RiskyOption),
        ("cargo test --manifest-path /tmp/evil/Cargo.toml", UnclearWhy::RiskyOption),
        ("npm test --script-shell=/tmp/x", UnclearWhy::RiskyOption),
        ("tar -cf x.tar --to-command='sh -c id' .", UnclearWhy::RiskyOption),
        ("tar cf x.tar --checkpoint=1 --checkpoint-action=exec=id .", UnclearWhy::RiskyOption),
        ("rsync -avze 'sh -c id' a b:", UnclearWhy::RiskyOption),
        ("ssh -o ProxyCommand='id' host", UnclearWhy::RiskyOption),
        ("curl https://example.com -o page.html", UnclearWhy::RiskyOption),
        ("echo x | xargs rm", UnclearWhy::Wrapper),
        ("sudo ls", UnclearWhy::Wrapper),
        ("echo '…' >> ~/.bashrc", UnclearWhy::Redirect),
        ("cat /dev/zero > /dev/sda", UnclearWhy::Redirect),
        ("ls > .git/hooks/pre-commit", UnclearWhy::Redirect),
        ("printf x >| ~/.ssh/authorized_keys", UnclearWhy::Redirect),
        ("echo x &> ~/.profile", UnclearWhy::Redirect),
        ("echo hi >&'$(id)'", UnclearWhy::Redirect),
        ("cat <<< hi", UnclearWhy::Redirect),
        ("cat < in", UnclearWhy::Redirect),
        ("echo $((x))", UnclearWhy::Evaluation),
        ("echo ${b[x]}", UnclearWhy::Evaluation),
        ("echo ${x@P}", UnclearWhy::Evaluation),
        ("cargo test $[x]", UnclearWhy::Evaluation),
        ("printf -v 'a[$(id)]' %s y", UnclearWhy::ShellBuiltin),
        ("test -v 'a[$(id)]'", UnclearWhy::ShellBuiltin),
        ("[ -v 'a[$(id)]' ]", UnclearWhy::ShellBuiltin),
        ("[[ 'a[$(id)]' -eq 1 ]]", UnclearWhy::ShellBuiltin),
        ("read 'a[$(id)]'", UnclearWhy::ShellBuiltin),
        ("declare -n r=x", UnclearWhy::ShellBuiltin),
        ("let x=1", UnclearWhy::ShellBuiltin),
        ("source ./env.sh", UnclearWhy::ShellBuiltin),
        ("command -v git", UnclearWhy::ShellBuiltin),
        ("exec ls", UnclearWhy::ShellBuiltin),
        ("shopt -s extglob", UnclearWhy::ShellBuiltin),
        ("set -k", UnclearWhy::ShellBuiltin),
        ("trap 'id' EXIT", UnclearWhy::ShellBuiltin),
        ("git $ARGS status", UnclearWhy::Expansion),
        ("tar -cf x.tar *", UnclearWhy::Expansion),
        ("timeout $T ls", UnclearWhy::Expansion),
        ("time -o /tmp/x ls", UnclearWhy::RiskyOption),
        ("make CC=id test", UnclearWhy::RiskyOption),
        ("go test -exec id ./...", UnclearWhy::RiskyOption),
        ("git config core.fsmonitor id", UnclearWhy::RiskyOption),
        ("git -C /tmp/evil status", UnclearWhy::RiskyOption),
        ("python3 -m pytest --basetemp=/home", UnclearWhy::RiskyOption),
        ("sort >&+2", UnclearWhy::Redirect),
        ("bash -ic 'ls & pwd'", UnclearWhy::RiskyOption),
        ("bash -o monitor -c 'ls & pwd'", UnclearWhy::RiskyOption),
        ("bash --rcfile x -c ls", UnclearWhy::RiskyOption),
    ] {
        assert_eq!(doubt(text), Some(why), "{text}");
    }
}
