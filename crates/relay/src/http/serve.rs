//! The HTTP API on a TCP listener: one thread accepts, one thread per connection (at most
//! [`MAX_CONNECTIONS`]) reads one request, answers it through [`Api::handle`] and closes.
//!
//! The request head is parsed by `httparse`; the body is read only up to its
//! `Content-Length`, which must be at most [`MAX_BODY`] (else 413, unread). Chunked bodies are
//! refused 411: every client of this API knows its body's length. Reads and writes time out
//! after [`IO_TIMEOUT`], so a slow client holds only its own thread, and the shared state is
//! locked only to answer, never across socket I/O: the UDP loop never waits on a client.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime};

use super::{Api, Clock, MAX_BODY, Response};
use crate::Server;

/// Connections served at once; more are closed unanswered.
pub const MAX_CONNECTIONS: usize = 32;
/// Longest wait for a client's bytes or for it to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head (request line and headers).
const MAX_HEAD: usize = 8 * 1024;
/// Most headers in a request head.
const MAX_HEADERS: usize = 32;

/// What the UDP loop and the HTTP threads share.
pub struct Shared {
    /// The room server.
    pub server: Server,
    /// The HTTP API's own state (the fingerprint consensus).
    pub api: Api,
}

/// The shared state, also after a thread panicked holding it: it is consistent between
/// calls, and a relay that stops serving over one panic serves nobody.
pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The relay's clocks: monotonic since start and the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    origin: std::time::Instant,
}

impl Clocks {
    /// Monotonic time starts now.
    pub fn start() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// Both clocks now (the Unix time is zero if the system clock is before 1970).
    pub fn now(&self) -> Clock {
        Clock {
            now: proto::time::Instant::from_duration(self.origin.elapsed()),
            unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }
}

/// Serves the API on `listener` from a thread of its own, for the life of the process.
///
/// # Errors
/// The accept thread could not be started.
pub fn spawn(listener: TcpListener, shared: Arc<Mutex<Shared>>, clocks: Clocks) -> io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("osp-relay-http".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                let (shared, served) = (Arc::clone(&shared), Arc::clone(&open));
                let spawned = thread::Builder::new()
                    .name("osp-relay-http-conn".into())
                    .spawn(move || {
                        // A client that goes away or stalls past the timeout is simply done.
                        let _ = serve_connection(stream, &shared, clocks);
                        served.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    open.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })
        .map(drop)
}

/// One request on `stream`, answered, then the connection closed.
fn serve_connection(
    mut stream: TcpStream,
    shared: &Mutex<Shared>,
    clocks: Clocks,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let response = match read_request(&mut stream)? {
        Ok(request) => {
            let mut shared = lock(shared);
            let Shared { server, api } = &mut *shared;
            api.handle(
                server,
                clocks.now(),
                &request.method,
                &request.path,
                &request.body,
            )
        }
        Err(refusal) => refusal,
    };
    write_response(&mut stream, &response)
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads one request: `Ok(Err(_))` is the answer to a request refused before routing.
fn read_request(stream: &mut TcpStream) -> io::Result<Result<Request, Response>> {
    let mut buf = vec![0; MAX_HEAD];
    let mut filled = 0;
    let (head_len, method, path, content_length) = loop {
        if filled == buf.len() {
            return Ok(Err(Response::error(431, "head_too_large")));
        }
        let read = stream.read(&mut buf[filled..])?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf[..filled]) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(head_len)) => {
                let header = |name: &str| {
                    request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                };
                if header("transfer-encoding").is_some() {
                    return Ok(Err(Response::error(411, "length_required")));
                }
                let content_length = match header("content-length") {
                    None => 0,
                    Some(h) => match std::str::from_utf8(h.value).ok().map(str::parse::<u64>) {
                        Some(Ok(len)) => len,
                        _ => return Ok(Err(Response::error(400, "bad_content_length"))),
                    },
                };
                if content_length > MAX_BODY as u64 {
                    return Ok(Err(Response::too_large()));
                }
                let method = request.method.unwrap_or_default().to_owned();
                let path = request.path.unwrap_or_default().to_owned();
                break (head_len, method, path, content_length as usize);
            }
            Err(_) => return Ok(Err(Response::error(400, "bad_request"))),
        }
    };
    // The body's first bytes may have come with the head.
    let mut body = buf[head_len..filled].to_vec();
    body.truncate(content_length);
    let missing = content_length - body.len();
    body.resize(content_length, 0);
    stream.read_exact(&mut body[content_length - missing..])?;
    Ok(Ok(Request { method, path, body }))
}

fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(response.body.as_bytes())?;
    stream.flush()
}

/// The reason phrase of the statuses the API gives.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}
