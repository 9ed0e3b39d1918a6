//! A static file server: a directory served at `/`, zero-copy (`sendfile`) for large files,
//! with ETag / Last-Modified conditionals, ranges and precompressed siblings.
//!
//! ```text
//! cargo run --release --example static_files -- --root ./public --addr 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/index.html
//! curl -i -r 0-99 http://127.0.0.1:8080/big.bin
//! curl --compressed -i http://127.0.0.1:8080/app.js     # app.js.br or .gz if present
//! ```
//!
//! `--listing` lists directories without an `index.html`; `--hidden` serves dot files;
//! `--inline-max-bytes N` sets the size up to which files are sent from memory.
//! SIGTERM or SIGINT drains and exits. docs/static-files.md has the semantics.

#[path = "common/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use ringpin::{Router, ServeDir};

#[derive(Parser)]
#[command(about = "ringpin static_files: a directory served at /, zero-copy")]
struct Args {
    /// The directory to serve.
    #[arg(long, env = "RINGPIN_ROOT")]
    root: PathBuf,
    /// List directories that have no index.html (off: 404).
    #[arg(long)]
    listing: bool,
    /// Serve names starting with `.` (off: 404).
    #[arg(long)]
    hidden: bool,
    /// Files at most this long are kept in memory and sent with their head in one write;
    /// longer ones go with sendfile(2) (docs/static-files.md, "Small files").
    #[arg(long, env = "RINGPIN_INLINE_MAX_BYTES", default_value_t = ringpin::DEFAULT_INLINE_MAX_BYTES)]
    inline_max_bytes: u64,
    #[command(flatten)]
    serve: cli::ServeArgs,
}

/// What the site serves beside its root.
#[derive(Copy, Clone, Debug, Default)]
pub struct Options {
    /// List directories without an index.html.
    pub listing: bool,
    /// Serve dot files.
    pub hidden: bool,
    /// `ServeDir::with_inline_max_bytes`.
    pub inline_max_bytes: u64,
}

/// The site: `root` at `/`, precompressed siblings on; `pub` so the integration tests
/// serve exactly this router. Built once per shard, so each has its own file cache.
pub fn site(root: &Path, options: Options) -> Router {
    match ServeDir::open(root) {
        Ok(files) => Router::new().mount(
            "/",
            files
                .with_precompressed(true)
                .with_listing(options.listing)
                .with_hidden(options.hidden)
                .with_inline_max_bytes(options.inline_max_bytes),
        ),
        Err(e) => {
            // main checked the root already: it went away since.
            log::error!("cannot open {}: {e}", root.display());
            Router::new()
        }
    }
}

fn main() -> ExitCode {
    cli::init_logging();
    let args = Args::parse();
    if let Err(e) = ServeDir::open(&args.root) {
        eprintln!("static_files: cannot serve {}: {e}", args.root.display());
        return ExitCode::FAILURE;
    }
    let root = args.root.clone();
    let options = Options {
        listing: args.listing,
        hidden: args.hidden,
        inline_max_bytes: args.inline_max_bytes,
    };
    cli::serve_until_signal(&args.serve, move |_shard| site(&root, options))
}
