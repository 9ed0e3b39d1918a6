//! The command line, checked once, as an immutable `Plan`; every error here exits with status 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::schedule::Arrival;
use crate::Args;

/// Most requests `--pipeline` lets one connection carry at once.
const MAX_PIPELINE: usize = 64;

/// Highest core id accepted in `--cores`: the kernel's `CPU_SETSIZE` is 1024.
const MAX_CORE_ID: usize = 1023;

/// The checked command line: everything a shard needs, fixed before the first request.
#[derive(Clone, Debug)]
pub struct Plan {
    pub url: String,
    pub addr: SocketAddr,
    pub method: String,
    /// The whole request, encoded once and written as is for every slot.
    pub request: Vec<u8>,
    pub rate: f64,
    pub connections: usize,
    pub cores: Vec<usize>,
    pub warmup: Duration,
    pub duration: Duration,
    pub timeout: Duration,
    /// How long before a due send the worker stops sleeping and busy-polls.
    pub spin: Duration,
    /// How late after a due slot a worker may wake, to send a batch in one wake-up.
    pub batch: Duration,
    /// Never sleep: poll the ring in a loop (a whole core per worker).
    pub busy_poll: bool,
    pub arrival: Arrival,
    /// Most requests in flight on one connection (1: no pipelining).
    pub pipeline: usize,
}

impl Plan {
    pub fn from_args(args: Args) -> Result<Plan, String> {
        if !(args.rate.is_finite() && args.rate > 0.0) {
            return Err(format!("--rate {} must be a positive number", args.rate));
        }
        let seconds = |name: &str, value: f64, zero_ok: bool| {
            let ok = value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0));
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|_| ok)
                .ok_or_else(|| format!("--{name} {value} is not a valid number of seconds"))
        };
        let duration = seconds("duration", args.duration, false)?;
        let warmup = seconds("warmup", args.warmup, true)?;
        let timeout = seconds("timeout", args.timeout, false)?;
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .ok_or("cannot read this process's CPU affinity")?
            .into_iter()
            .map(|core| core.id)
            .collect();
        let cores = match &args.cores {
            Some(list) => parse_cores(list)?,
            None => allowed.clone(),
        };
        if let Some(core) = cores.iter().find(|core| !allowed.contains(core)) {
            return Err(format!(
                "core {core} is not available (allowed: {allowed:?})"
            ));
        }
        if args.connections < cores.len() {
            return Err(format!(
                "--connections {} is fewer than the {} cores",
                args.connections,
                cores.len()
            ));
        }
        if !(1..=MAX_PIPELINE).contains(&args.pipeline) {
            return Err(format!(
                "--pipeline {} must be between 1 and {MAX_PIPELINE}",
                args.pipeline
            ));
        }
        let arrival = match args.arrival.as_str() {
            "constant" => Arrival::Constant,
            "poisson" => Arrival::Poisson,
            other => return Err(format!("--arrival {other:?}: expected constant or poisson")),
        };
        let target = parse_url(&args.url)?;
        let addr = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", target.host))?;
        let body = match &args.body {
            Some(text) => Some(match text.strip_prefix('@') {
                Some(path) => std::fs::read(path).map_err(|e| format!("--body @{path}: {e}"))?,
                None => text.clone().into_bytes(),
            }),
            None => None,
        };
        let method = match (&args.method, &body) {
            (Some(method), _) => method.clone(),
            (None, Some(_)) => "POST".to_string(),
            (None, None) => "GET".to_string(),
        };
        let request = encode_request(&method, &target, &args.headers, body.as_deref())?;
        Ok(Plan {
            url: args.url,
            addr,
            method,
            request,
            rate: args.rate,
            connections: args.connections,
            cores,
            warmup,
            duration,
            timeout,
            spin: Duration::from_micros(args.spin_us),
            batch: Duration::from_micros(args.batch_us),
            busy_poll: args.busy_poll,
            arrival,
            pipeline: args.pipeline,
        })
    }

    /// A response to HEAD has no body whatever its headers say.
    pub fn head_only(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Parses a taskset-style core list such as `1` or `0-1,3` into sorted, distinct ids.
pub fn parse_cores(list: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("--cores {list:?}: expected a list like `1` or `0-1,3`");
    let mut cores = Vec::new();
    for part in list.split(',') {
        let (first, last) = part
            .trim()
            .split_once('-')
            .unwrap_or((part.trim(), part.trim()));
        let first: usize = first.trim().parse().map_err(|_| bad())?;
        let last: usize = last.trim().parse().map_err(|_| bad())?;
        if first > last || last > MAX_CORE_ID {
            return Err(bad());
        }
        cores.extend(first..=last);
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

/// Where requests go: the parts of an `http://` URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]` as written, sent as the Host header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url:?}: only http:// URLs are supported"))?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let bad_port = || format!("--url {url:?}: bad port");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, "")) => (host, 80),
            Some((host, port)) => {
                let port = port.strip_prefix(':').ok_or_else(bad_port)?;
                (host, port.parse().map_err(|_| bad_port())?)
            }
            None => return Err(format!("--url {url:?}: unclosed `[`")),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad_port())?),
            None => (authority, 80),
        },
    };
    if host.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
        return Err(format!("--url {url:?}: expected http://host[:port][/path]"));
    }
    Ok(Target {
        authority: authority.to_string(),
        host: host.to_string(),
        port,
        path,
    })
}

/// True for an RFC 9110 token, the syntax of methods and header names.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Encodes the one request every slot sends: request line, Host, extra headers, body.
pub fn encode_request(
    method: &str,
    target: &Target,
    headers: &[String],
    body: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    if !is_token(method) {
        return Err(format!("--method {method:?} is not a valid method"));
    }
    let mut request = format!("{method} {} HTTP/1.1\r\n", target.path);
    let mut has_host = false;
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .filter(|(name, value)| is_token(name) && !value.contains(['\r', '\n']))
            .ok_or_else(|| format!("--header {header:?}: expected `Name: value`"))?;
        if ["content-length", "transfer-encoding"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return Err(format!("--header {name}: set from --body, not by hand"));
        }
        has_host |= name.eq_ignore_ascii_case("host");
        request.push_str(&format!("{name}: {}\r\n", value.trim()));
    }
    if !has_host {
        request.push_str(&format!("Host: {}\r\n", target.authority));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_lists() {
        assert_eq!(parse_cores("1"), Ok(vec![1]));
        assert_eq!(parse_cores("0-1,3"), Ok(vec![0, 1, 3]));
        assert_eq!(parse_cores("3, 1-2,2"), Ok(vec![1, 2, 3]));
        for bad in ["", "a", "2-1", "1-", "-1", "1,,2", "0-4000000000"] {
            assert!(parse_cores(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_urls() {
        let target = |authority: &str, host: &str, port, path: &str| Target {
            authority: authority.into(),
            host: host.into(),
            port,
            path: path.into(),
        };
        #[rustfmt::skip]
        let cases = [
            ("http://127.0.0.1:8080/", target("127.0.0.1:8080", "127.0.0.1", 8080, "/")),
            ("http://localhost", target("localhost", "localhost", 80, "/")),
            ("http://h:1/a/b?c=d#frag", target("h:1", "h", 1, "/a/b?c=d")),
            ("http://h?q", target("h", "h", 80, "/?q")),
            ("http://[::1]:9/x", target("[::1]:9", "::1", 9, "/x")),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_url(url), Ok(expected), "{url}");
        }
        for bad in [
            "https://h/",
            "h:80/",
            "http://",
            "http://h:x/",
            "http://h:99999/",
            "http://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encodes_the_request_once() {
        let target = parse_url("http://127.0.0.1:8089/json").unwrap();
        let headers = ["Content-Type: application/json".to_string()];
        let request = encode_request("POST", &target, &headers, Some(b"{\"a\":1}")).unwrap();
        assert_eq!(
            String::from_utf8(request).unwrap(),
            "POST /json HTTP/1.1\r\nContent-Type: application/json\r\nHost: 127.0.0.1:8089\r\n\
             Content-Length: 7\r\n\r\n{\"a\":1}"
        );
        let get = encode_request("GET", &target, &["Host: other".into()], None).unwrap();
        assert_eq!(get, b"GET /json HTTP/1.1\r\nHost: other\r\n\r\n");
        for bad in [
            "NoColon",
            "Bad Name: x",
            "Content-Length: 3",
            "X: a\r\nY: b",
        ] {
            assert!(
                encode_request("GET", &target, &[bad.into()], None).is_err(),
                "{bad:?}"
            );
        }
        assert!(encode_request("G T", &target, &[], None).is_err());
    }
}
