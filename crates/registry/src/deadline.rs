//! Deadlines per request, scaled to size: `base + bytes / min_rate`. A registry
//! that trickles a manifest or blob a byte every few seconds never trips the
//! per-read timeout; this bounds the whole exchange instead, while a slow but real
//! link (anything at or above `min_rate`) still gets through.
//!
//! The deadline of the request a thread is running (or of the body it is reading)
//! sits in a thread-local: ureq is blocking, so the thread doing the I/O is the one
//! that asked for it. [`Deadlined`] wraps every connection under TLS and clamps
//! each wait on the socket (connect, handshake, send, headers, body) to what is left,
//! so a trickle is cut at the deadline, not at the next byte.

use std::cell::Cell;
use std::time::{Duration, Instant};
use std::{fmt, io};

use ureq::unversioned::transport::time::Duration as UDuration;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// The deadline of each request: `base + bytes / min_rate`, where bytes is the body
/// sent, or the body announced (`Content-Length`) once the answer's head is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Time for a request without a body to speak of: connecting, TLS, the
    /// answer's head, a small document (`--transfer-timeout`).
    pub base: Duration,
    /// The slowest throughput accepted, bytes per second (`--min-rate`); 0 turns
    /// deadlines off (only the per-read timeout is left).
    pub min_rate: u64,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            base: Duration::from_secs(60),
            min_rate: 16 * 1024,
        }
    }
}

impl Deadlines {
    /// No deadlines at all.
    pub fn off() -> Deadlines {
        Deadlines {
            min_rate: 0,
            ..Deadlines::default()
        }
    }

    /// The time allowed for a request moving `bytes`, or `None` when deadlines are
    /// off.
    pub fn allowed(&self, bytes: u64) -> Option<Duration> {
        if self.min_rate == 0 {
            return None;
        }
        let secs = bytes / self.min_rate;
        let rest = bytes % self.min_rate;
        let frac = Duration::from_nanos(
            u64::try_from(u128::from(rest) * 1_000_000_000 / u128::from(self.min_rate))
                .unwrap_or(0),
        );
        Some(
            self.base
                .saturating_add(Duration::from_secs(secs))
                .saturating_add(frac),
        )
    }

    /// The instant a request started at `start` and moving `bytes` must be done by.
    pub(crate) fn at(&self, start: Instant, bytes: u64) -> Option<Instant> {
        self.allowed(bytes).and_then(|d| start.checked_add(d))
    }
}

/// Why a request was cut: what it was allowed, for the error message.
#[derive(Clone, Debug)]
pub(crate) struct TimedOut {
    pub(crate) elapsed: Duration,
    pub(crate) bytes: u64,
    pub(crate) deadlines: Deadlines,
    /// Bytes that got through before the cut, when known (a body being read).
    pub(crate) got: Option<u64>,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed = self.deadlines.allowed(self.bytes).unwrap_or_default();
        write!(f, "timed out after {:.1}s", self.elapsed.as_secs_f64())?;
        if let Some(got) = self.got {
            write!(f, " with {got} of {} bytes", self.bytes)?;
        }
        write!(
            f,
            " (allowed {:.1}s: {}s + {} bytes at {} bytes/s; see --transfer-timeout and --min-rate)",
            allowed.as_secs_f64(),
            trim_secs(self.deadlines.base),
            self.bytes,
            self.deadlines.min_rate
        )
    }
}

/// What a body read cut at its deadline carries inside its `io::Error` (kind
/// `TimedOut`), so that it is told from the other timeouts of that kind (a read that
/// stalled for `io_timeout`, which is worth a reopening): the deadline was the
/// budget, and a resuming download does not reopen after it.
#[derive(Debug)]
pub(crate) struct Cut(pub(crate) String);

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cut {}

/// The error of a body read cut at its deadline: `message` says why.
pub(crate) fn cut(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, Cut(message))
}

/// Whether `e` is a body read cut at its deadline ([`cut`]).
pub(crate) fn is_cut(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Cut>())
}

fn trim_secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// When the request this thread sent last started.
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A request starts now, sending `bytes`: its deadline becomes this thread's (and
/// stays, for reading the answer's body, until the next request or [`extend`]).
pub(crate) fn begin(d: &Deadlines, bytes: u64) -> (Instant, Option<Instant>) {
    let now = Instant::now();
    let at = d.at(now, bytes);
    STARTED.with(|s| s.set(Some(now)));
    set(at);
    (now, at)
}

/// The answer's head says `bytes` come: the request this thread sent last may take
/// `base + bytes / min_rate` from its start. Returns (start, deadline).
pub(crate) fn extend(d: &Deadlines, bytes: u64) -> (Instant, Option<Instant>) {
    let start = STARTED.with(Cell::get).unwrap_or_else(Instant::now);
    let at = d.at(start, bytes);
    set(at);
    (start, at)
}

/// Sets this thread's deadline; returns the previous one.
pub(crate) fn set(at: Option<Instant>) -> Option<Instant> {
    DEADLINE.with(|d| d.replace(at))
}

/// This thread's deadline.
pub(crate) fn current() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

/// Whether `at` has passed.
pub(crate) fn passed(at: Option<Instant>) -> bool {
    at.is_some_and(|a| Instant::now() >= a)
}

/// Runs `f` under the deadline `at`, putting the thread's previous one back after.
pub(crate) fn under<T>(at: Option<Instant>, f: impl FnOnce() -> T) -> T {
    let before = set(at);
    let r = f();
    set(before);
    r
}

/// `timeout` shortened to what is left of this thread's deadline.
fn clamp(mut timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
    let Some(at) = current() else {
        return Ok(timeout);
    };
    let left = at.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ureq::Error::Timeout(ureq::Timeout::Global));
    }
    if left < *timeout.after {
        timeout.after = UDuration::Exact(left);
        timeout.reason = ureq::Timeout::Global;
    }
    Ok(timeout)
}

/// Wraps each new connection in [`Deadlined`] (below TLS, so the handshake is
/// bounded too).
#[derive(Debug)]
pub(crate) struct DeadlineConnector;

impl<In: Transport> Connector<In> for DeadlineConnector {
    type Out = Deadlined<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if passed(current()) {
            return Err(ureq::Error::Timeout(ureq::Timeout::Global));
        }
        Ok(chained.map(Deadlined))
    }
}

/// A connection whose every wait ends at the running request's deadline.
#[derive(Debug)]
pub(crate) struct Deadlined<T>(T);

impl<T: Transport> Transport for Deadlined<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, clamp(timeout)?)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(clamp(timeout)?)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_time_scales_with_size() {
        let d = Deadlines {
            base: Duration::from_secs(2),
            min_rate: 1000,
        };
        assert_eq!(d.allowed(0), Some(Duration::from_secs(2)));
        assert_eq!(d.allowed(1500), Some(Duration::from_millis(3500)));
        assert_eq!(Deadlines::off().allowed(1 << 40), None);
        let huge = Deadlines {
            base: Duration::from_secs(1),
            min_rate: 1,
        };
        assert!(huge.allowed(u64::MAX).is_some());
    }

    #[test]
    fn the_thread_deadline_is_restored() {
        let t = Instant::now() + Duration::from_secs(5);
        assert_eq!(current(), None);
        under(Some(t), || assert_eq!(current(), Some(t)));
        assert_eq!(current(), None);
        assert!(passed(Some(Instant::now() - Duration::from_millis(1))));
        assert!(!passed(None));
    }

    #[test]
    fn a_cut_is_told_from_other_timeouts() {
        let e = cut("HOST/REPO: GET blob X: timed out after 1.0s".into());
        assert!(is_cut(&e));
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "HOST/REPO: GET blob X: timed out after 1.0s");
        assert!(!is_cut(&io::Error::new(
            io::ErrorKind::TimedOut,
            "read timed out"
        )));
        assert!(!is_cut(&io::Error::from(io::ErrorKind::TimedOut)));
    }
}
