//! Network faults for tests on one machine (issue 17's harness): a private network namespace,
//! so that nothing outside the test is touched, with its loopback up, and nftables rules in it
//! that drop the packets between two node addresses (127.0.0.11, .12, ...). Nodes connect to
//! each other from their own address (`Cluster::start_at_own_addresses`), so a rule on a pair
//! of addresses cuts exactly that link; the test's clients connect from 127.0.0.1 and keep
//! reaching every node, as Jepsen's clients do.

use std::process::Command;

const TABLE: &str = "weir_faults";
const CHAIN: &str = "cut";

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Moves the calling thread, and every process and thread it starts from now on, into a new
/// network namespace with its loopback up and an empty nftables chain for cuts. `Err` says why
/// when not run as root: the caller skips, saying so. As root (CI) a namespace that cannot be
/// made is a broken machine, and fails the test rather than let it pass unrun.
pub fn enter_private_network() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: network namespaces and nftables need root (CI runs as root)".into());
    }
    let made = || -> Result<(), String> {
        // SAFETY: unshare has no memory-safety preconditions; CLONE_NEWNET changes only this
        // thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            ));
        }
        run("ip", &["link", "set", "lo", "up"])?;
        run("nft", &["add", "table", "inet", TABLE])?;
        run(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                TABLE,
                CHAIN,
                "{ type filter hook output priority 0 ; }",
            ],
        )
    };
    if let Err(why) = made() {
        panic!("running as root, yet no private network for the fault tests: {why}");
    }
    Ok(())
}

/// Drops every packet between addresses `a` and `b`, both ways.
pub fn cut(a: &str, b: &str) {
    drop_one_way(a, b);
    drop_one_way(b, a);
}

/// Drops every packet from `from` to `to`; the other way still flows (an asymmetric fault:
/// TCP connections stall, but each side still hears some of the other).
pub fn drop_one_way(from: &str, to: &str) {
    add_rule(from, to, &["drop"]);
}

/// Drops `percent` of the packets between `a` and `b`, both ways, at random (nftables'
/// `numgen random`).
pub fn lose(a: &str, b: &str, percent: u32) {
    let below = percent.to_string();
    for (from, to) in [(a, b), (b, a)] {
        add_rule(
            from,
            to,
            &["numgen", "random", "mod", "100", "lt", &below, "drop"],
        );
    }
}

fn add_rule(from: &str, to: &str, verdict: &[&str]) {
    let mut args = vec![
        "add", "rule", "inet", TABLE, CHAIN, "ip", "saddr", from, "ip", "daddr", to,
    ];
    args.extend_from_slice(verdict);
    run("nft", &args).expect("add an nftables rule");
}

/// Removes every cut.
pub fn heal() {
    run("nft", &["flush", "chain", "inet", TABLE, CHAIN]).expect("heal the cuts");
}
