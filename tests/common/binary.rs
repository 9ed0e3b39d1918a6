//! The example binaries as users run them, found beside the test binary.

use std::path::PathBuf;

/// `target/<profile>/examples/hello`, which `cargo test` builds beside this test binary
/// (`cargo test --test NAME` alone does not: build it first).
pub fn hello_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let hello = profile_dir.join("examples").join("hello");
    assert!(
        hello.is_file(),
        "{} is missing: run plain `cargo test`, or `cargo build --example hello` first",
        hello.display()
    );
    hello
}
