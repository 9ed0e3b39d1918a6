//! The flags every example shares: `--addr` and `--cores`, or `RINGPIN_ADDR` and
//! `RINGPIN_CORES`, plus logging and the serve-until-signal loop.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use ringpin::{parse_cpu_list, Config, Handler, Server, ShardInfo};

/// Where to listen and on which CPUs.
#[derive(Parser, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RINGPIN_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// CPUs to run one shard each on, taskset syntax (`0-3,6`); default: the process mask.
    // Spelled out in full so clap takes one list-valued argument, not a repeated one.
    #[arg(long, env = "RINGPIN_CORES", value_parser = parse_cpu_list)]
    pub cores: Option<::std::vec::Vec<usize>>,
}

impl ServeArgs {
    /// The engine configuration these flags describe.
    pub fn config(&self) -> Config {
        let mut config = Config::default().with_addr(self.addr);
        config.cpus = self.cores.clone();
        config
    }
}

/// Starts logging at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
}

/// Serves until SIGTERM or SIGINT has drained every shard.
pub fn serve_until_signal<F, H>(config: Config, factory: F) -> ExitCode
where
    F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
    H: Handler,
{
    let handle = match Server::new(config).with_signal_drain().serve(factory) {
        Ok(handle) => handle,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match handle.join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
