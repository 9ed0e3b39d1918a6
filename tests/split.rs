//! Property: how a byte stream is split into reads never changes what the engine answers.
//!
//! Drives a [`Session`] (exactly the protocol code a live connection runs) with generated
//! pipelines of valid requests (Content-Length and chunked bodies with extensions and
//! trailers, HEAD, `Expect: 100-continue`, empty lines between requests), fed whole, one
//! byte at a time, and cut at random points; then with the same pipelines damaged at random
//! bytes and under small limits, where the refusal must also come at the same point with
//! the same status. `100 Continue` is the one legitimate difference (it is sent only when
//! the body has not arrived with the head) and is left out of the comparison.

mod common;

use common::replay;
use futures_lite::future::block_on;
use proptest::prelude::*;
use ringpin::{Limits, Request, Response, Session, SessionState};

/// Answers with everything the engine decoded, so any difference in decoding shows.
async fn reflect(request: Request) -> Response {
    let mut text = format!(
        "{} {} {:?}\n",
        request.method(),
        request.target(),
        request.version()
    )
    .into_bytes();
    for (name, value) in request.headers() {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(value);
        text.push(b'\n');
    }
    text.extend_from_slice(request.body());
    Response::bytes(text)
}

/// What a session produced for `input` cut at `splits`: the final responses and its state.
fn run(input: &[u8], splits: &[usize], limits: &Limits) -> (replay::Outcome, SessionState) {
    let mut session = Session::new(limits);
    let mut output = Vec::new();
    let mut fed = 0;
    let mut points: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&p| p > 0 && p < input.len())
        .collect();
    points.sort_unstable();
    points.dedup();
    points.push(input.len());
    for end in points {
        session.receive(&input[fed..end]);
        fed = end;
        loop {
            block_on(session.answer(&reflect, false));
            if session.output().is_empty() {
                break;
            }
            output.extend_from_slice(session.output());
            session.clear_output();
        }
        if session.state() != SessionState::Open {
            break;
        }
    }
    let outcome = replay::parse_answers(&output).expect("well-formed responses");
    (outcome, session.state())
}

/// One request of a generated pipeline, and the body the handler must see.
#[derive(Clone, Debug)]
struct Generated {
    bytes: Vec<u8>,
    body: Vec<u8>,
    head: bool,
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

fn extension() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        ";a",
        ";a=b",
        " ;a=b",
        ";a = \"b c\\\"d\"",
        ";x;y=z",
    ])
}

fn trailer() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "X-Sum: 1\r\n", "A: b\r\nC:\td \r\n"])
}

fn request() -> impl Strategy<Value = Generated> {
    let empty_lines = 0..2usize;
    let get = (
        prop::sample::select(vec![
            "/",
            "/json",
            "/a?b=c",
            "http://h.example/p",
            "/a-path-longer-than-the-small-request-line-limit",
        ]),
        prop::bool::ANY,
    )
        .prop_map(|(target, head)| {
            let method = if head { "HEAD" } else { "GET" };
            Generated {
                bytes: format!(
                    "{method} {target} HTTP/1.1\r\nHost: h.example\r\nAccept: */*\r\n\r\n"
                )
                .into_bytes(),
                body: Vec::new(),
                head,
            }
        });
    let length = (body_bytes(), prop::bool::ANY).prop_map(|(body, expect)| {
        let expect = if expect {
            "Expect: 100-continue\r\n"
        } else {
            ""
        };
        let mut bytes = format!(
            "POST /echo HTTP/1.1\r\nHost: h\r\n{expect}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        Generated {
            bytes,
            body,
            head: false,
        }
    });
    let chunked = (
        prop::collection::vec((body_bytes(), extension()), 0..4),
        extension(),
        trailer(),
        prop::bool::ANY,
    )
        .prop_map(|(chunks, last_ext, trailer, expect)| {
            let expect = if expect {
                "Expect: 100-continue\r\n"
            } else {
                ""
            };
            let mut bytes = format!(
                "PUT /echo HTTP/1.1\r\nHost: h\r\n{expect}Transfer-Encoding: chunked\r\n\r\n"
            )
            .into_bytes();
            let mut body = Vec::new();
            for (data, ext) in chunks.iter().filter(|(data, _)| !data.is_empty()) {
                bytes.extend_from_slice(format!("{:X}{ext}\r\n", data.len()).as_bytes());
                bytes.extend_from_slice(data);
                bytes.extend_from_slice(b"\r\n");
                body.extend_from_slice(data);
            }
            bytes.extend_from_slice(format!("0{last_ext}\r\n{trailer}\r\n").as_bytes());
            Generated {
                bytes,
                body,
                head: false,
            }
        });
    (empty_lines, prop_oneof![get, length, chunked]).prop_map(|(empty, mut generated)| {
        let mut bytes = b"\r\n".repeat(empty);
        bytes.append(&mut generated.bytes);
        generated.bytes = bytes;
        generated
    })
}

fn pipeline() -> impl Strategy<Value = (Vec<u8>, Vec<Generated>)> {
    prop::collection::vec(request(), 1..8).prop_map(|requests| {
        let bytes = requests.iter().flat_map(|r| r.bytes.clone()).collect();
        (bytes, requests)
    })
}

/// Small limits, so damaged streams also run into every limit.
fn small_limits() -> Limits {
    Limits {
        max_request_line_bytes: 40,
        max_head_bytes: 120,
        max_headers: 4,
        max_body_bytes: 64,
        max_chunk_extension_bytes: 12,
        max_trailer_bytes: 16,
        max_empty_lines: 1,
        ..Limits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Valid pipelines: every request answered, in order, with the body it sent, however
    /// the stream is cut.
    #[test]
    fn any_split_of_a_valid_pipeline_gives_the_same_answers(
        (bytes, requests) in pipeline(),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let limits = Limits::default();
        let (whole, state) = run(&bytes, &[], &limits);
        prop_assert_eq!(state, SessionState::Open);
        prop_assert_eq!(whole.answers.len(), requests.len());
        for (answer, request) in whole.answers.iter().zip(&requests) {
            prop_assert_eq!(answer.status, 200);
            if !request.head {
                prop_assert!(answer.body.ends_with(&request.body));
            }
        }
        let cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len())).collect();
        let (pieces, state) = run(&bytes, &cuts, &limits);
        prop_assert_eq!(state, SessionState::Open);
        prop_assert_eq!(&pieces.answers, &whole.answers);
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        let (bytewise, _) = run(&bytes, &every_byte, &limits);
        prop_assert_eq!(&bytewise.answers, &whole.answers);
    }

    /// Damaged pipelines under small limits: the same answers, the same refusal at the same
    /// point, the same final state, however the stream is cut.
    #[test]
    fn any_split_of_a_damaged_pipeline_gives_the_same_answers(
        (bytes, _) in pipeline(),
        damage in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(
                vec![b'\r', b'\n', b' ', b'\t', b';', b':', b'"', 0, 0x7f, 0x80, b'0', b'f', b'x']
            )),
            1..4,
        ),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let mut bytes = bytes;
        for (at, byte) in &damage {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        for limits in [Limits::default(), small_limits()] {
            let whole = run(&bytes, &[], &limits);
            let cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len())).collect();
            let pieces = run(&bytes, &cuts, &limits);
            prop_assert_eq!(&pieces.0.answers, &whole.0.answers);
            prop_assert_eq!(pieces.1, whole.1);
            let every_byte: Vec<usize> = (1..bytes.len()).collect();
            let bytewise = run(&bytes, &every_byte, &limits);
            prop_assert_eq!(&bytewise.0.answers, &whole.0.answers);
            prop_assert_eq!(bytewise.1, whole.1);
        }
    }
}

/// The h2o seeds through a session, whole and one byte at a time, under both limit sets.
#[test]
fn every_seed_is_split_invariant_in_a_session() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/h2o-http1/seeds");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("seeds directory") {
        let data = std::fs::read(entry.expect("entry").path()).expect("seed");
        let every_byte: Vec<usize> = (1..data.len()).collect();
        for limits in [Limits::default(), small_limits()] {
            let whole = run(&data, &[], &limits);
            let bytewise = run(&data, &every_byte, &limits);
            assert_eq!(
                (&bytewise.0.answers, bytewise.1),
                (&whole.0.answers, whole.1),
                "{}",
                replay::escape(&data)
            );
        }
        count += 1;
    }
    assert!(count > 1000);
}
