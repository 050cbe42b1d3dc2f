//! Retry policy: exponential backoff with jitter, bounded in attempts and in total
//! time, honouring `Retry-After`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When and how often a failed request is tried again. Only connection errors,
/// 5xx and 429 are retried (a 401 is retried once, with fresh auth, separately).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The first backoff; it doubles on each retry.
    pub base_delay: Duration,
    /// Cap on one backoff (and on a `Retry-After` we agree to wait).
    pub max_delay: Duration,
    /// No retry starts after this much time spent on one request.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1-based), or `None` when the policy
    /// says stop: attempts used up, the time budget spent, or a `Retry-After`
    /// longer than we are willing to wait.
    pub(crate) fn backoff(
        &self,
        retry: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(d) if d > self.max_delay => return None,
            Some(d) => d,
            None => {
                let exp = self
                    .base_delay
                    .saturating_mul(1u32 << (retry - 1).min(20))
                    .min(self.max_delay);
                // "equal jitter": half fixed, half random, so that workers that
                // failed together do not retry together and no wait is ~0
                let half = exp / 2;
                let r = getrandom::u32().unwrap_or(0) as u64;
                half + Duration::from_nanos(r % (half.as_nanos() as u64).max(1))
            }
        };
        (elapsed + delay <= self.max_total).then_some(delay)
    }
}

/// The retry budget of one transfer that can continue from where it broke: an
/// upload resuming from the registry's offset, a download reopened from the byte
/// reached. The policy's attempts and time are per stretch without progress: a
/// failure after new bytes starts a new stretch, so a long transfer over a flaky
/// link may fail many times in all as long as bytes keep coming between failures,
/// while failures that bring nothing use the stretch up. And whatever progress is
/// claimed between them, failures in all are bounded too — the policy's attempts for
/// each chunk-sized stretch of the transfer — so a peer that makes us believe in
/// progress a byte at a time cannot keep a transfer going forever.
#[derive(Debug)]
pub(crate) struct Resumes {
    policy: RetryPolicy,
    /// Failures in all allowed.
    most: u64,
    /// Failures so far.
    failures: u64,
    /// Failures in the current stretch, and when it started (the transfer's start,
    /// then each failure that followed progress).
    stalled: u32,
    since: Instant,
    /// The furthest offset seen: a failure beyond it is progress.
    furthest: u64,
}

impl Resumes {
    /// The budget of a transfer of `size` bytes, in stretches of `stretch` bytes (the
    /// chunk size), that starts at `offset`.
    pub(crate) fn new(policy: &RetryPolicy, size: u64, stretch: u64, offset: u64) -> Resumes {
        let stretches = size.div_ceil(stretch.max(1)) + 1;
        Resumes {
            policy: policy.clone(),
            most: u64::from(policy.max_attempts).saturating_mul(stretches),
            failures: 0,
            stalled: 0,
            since: Instant::now(),
            furthest: offset,
        }
    }

    /// A failure with the transfer at `offset`. False once failures in all pass
    /// the bound.
    pub(crate) fn failed(&mut self, offset: u64) -> bool {
        self.failures += 1;
        if offset > self.furthest {
            self.furthest = offset;
            self.stalled = 0;
            self.since = Instant::now();
        }
        self.failures <= self.most
    }

    /// The wait before trying again after the failure noted last, counted against
    /// the stretch's attempts and time ([`RetryPolicy::backoff`]), or `None` when
    /// the policy says stop. A failure that is the consequence of the one before
    /// (not a failure of its own) is noted with [`Self::failed`] only.
    pub(crate) fn backoff(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.stalled += 1;
        self.policy
            .backoff(self.stalled, self.since.elapsed(), retry_after)
    }

    /// Failures noted so far.
    pub(crate) fn failures(&self) -> u64 {
        self.failures
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (IMF-fixdate).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let mut f = rest.split(' ');
    let day: i64 = f.next()?.parse().ok()?;
    let month = match f.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = f.next()?.parse().ok()?;
    let mut t = f.next()?.split(':');
    let (h, m, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if f.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_is_jittered_and_bounded() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_total: Duration::from_secs(10),
        };
        let z = Duration::ZERO;
        let d1 = p.backoff(1, z, None).unwrap();
        assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
        let d3 = p.backoff(3, z, None).unwrap();
        assert!(d3 >= Duration::from_millis(150) && d3 <= Duration::from_millis(300));
        assert_eq!(p.backoff(4, z, None), None, "attempts used up");
        assert_eq!(
            p.backoff(1, Duration::from_secs(10), None),
            None,
            "time spent"
        );
        assert_eq!(
            p.backoff(1, z, Some(Duration::from_millis(200))),
            Some(Duration::from_millis(200))
        );
        assert_eq!(p.backoff(1, z, Some(Duration::from_secs(60))), None);
    }

    #[test]
    fn a_resumable_budget_is_per_stretch_without_progress_and_bounded_in_all() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_total: Duration::from_secs(60),
        };
        // 10 bytes in stretches of 10: two stretches' worth, 6 failures in all
        let mut b = Resumes::new(&p, 10, 10, 0);
        // no progress: the first try and two more, then stop
        assert!(b.failed(0));
        assert!(b.backoff(None).is_some());
        assert!(b.failed(0));
        assert!(b.backoff(None).is_some());
        assert!(b.failed(0));
        assert_eq!(b.backoff(None), None, "three attempts without a byte");
        // progress starts a new stretch with the whole budget again
        let mut b = Resumes::new(&p, 10, 10, 0);
        for at in 1..=6 {
            assert!(b.failed(at), "failure {at}");
            assert!(b.backoff(None).is_some(), "failure {at}");
        }
        // but not forever: the seventh failure passes the bound in all
        assert!(!b.failed(7));
        assert_eq!(b.failures(), 7);
        // a consequence noted without a backoff does not use the stretch up
        let mut b = Resumes::new(&p, 10, 10, 0);
        for _ in 0..2 {
            assert!(b.failed(0));
            assert!(b.backoff(None).is_some());
            assert!(b.failed(0));
        }
        assert!(b.failed(0));
        assert_eq!(b.backoff(None), None);
        // the stretch's time is the policy's too
        let slow = RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(10),
            max_total: Duration::from_secs(1),
            ..p.clone()
        };
        let mut b = Resumes::new(&slow, 10, 10, 0);
        assert!(b.failed(0));
        assert_eq!(b.backoff(None), None, "a wait beyond the stretch's time");
        // a transfer resumed at an offset makes no progress by reaching it
        let mut b = Resumes::new(&p, 10, 10, 5);
        assert!(b.failed(5));
        assert!(b.backoff(None).is_some());
        assert!(b.failed(5));
        assert!(b.backoff(None).is_some());
        assert!(b.failed(5));
        assert_eq!(b.backoff(None), None);
    }
}
