//! Throttles for the copy: `migrate-batch-rate-limit-mb` (bytes per second, node-wide,
//! shared by every job, a burst of 100 ms' worth) and Kvrocks' `migrate-speed`
//! (keys per second, per job, a burst of 10 ms' worth so the copy is paced from its
//! first key). Both are `governor`'s GCRA; the rate is passed at every call, so CONFIG
//! SET applies to running jobs.

use std::num::NonZeroU32;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A rate limit in units per second (0 = none) that blocks the calling thread.
pub struct Throttle {
    /// The burst allowed, as a duration's worth of the rate.
    burst: Duration,
    /// The limiter for the rate in force, rebuilt when the rate changes. Read without
    /// a lock: a migration's copy runs at the lowest CPU priority, and a lock it held
    /// when preempted would hold up the other jobs' cut-overs.
    limiter: ArcSwapOption<(u32, DefaultDirectRateLimiter)>,
}

impl Default for Throttle {
    /// A burst of 100 ms' worth: a limit in MB/s holds over any tenth of a second.
    fn default() -> Self {
        Throttle::with_burst(Duration::from_millis(100))
    }
}

impl Throttle {
    /// A throttle that lets `burst`'s worth of the rate through at once.
    pub fn with_burst(burst: Duration) -> Throttle {
        Throttle {
            burst,
            limiter: ArcSwapOption::empty(),
        }
    }

    fn burst_of(&self, rate: u32) -> u32 {
        let burst = (f64::from(rate) * self.burst.as_secs_f64()).ceil();
        (burst as u32).clamp(1, rate)
    }

    fn limiter(&self, per_sec: u64) -> Option<std::sync::Arc<(u32, DefaultDirectRateLimiter)>> {
        // Rates beyond u32 are, for a migration, no limit at all.
        let rate = NonZeroU32::new(u32::try_from(per_sec).ok()?)?;
        if let Some(current) = self.limiter.load_full() {
            if current.0 == rate.get() {
                return Some(current);
            }
        }
        // A new rate (two threads seeing it at once each install a limiter; the last
        // one stays, as if the rate had been set twice).
        let burst = NonZeroU32::new(self.burst_of(rate.get())).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let limiter = std::sync::Arc::new((rate.get(), RateLimiter::direct(quota)));
        self.limiter.store(Some(limiter.clone()));
        Some(limiter)
    }

    /// Takes `amount` units if the rate allows it now, without waiting.
    pub fn try_acquire(&self, amount: u64, per_sec: u64) -> bool {
        let Some(limiter) = self.limiter(per_sec) else {
            return true;
        };
        let limiter = &limiter.1;
        match NonZeroU32::new(amount.min(u64::from(u32::MAX)) as u32) {
            None => true,
            Some(n) => matches!(limiter.check_n(n), Ok(Ok(()))),
        }
    }

    /// Takes `amount` units, sleeping as long as the rate requires. Amounts larger
    /// than one second's worth are taken in one-second pieces.
    pub fn acquire(&self, amount: u64, per_sec: u64) {
        let Some(limiter) = self.limiter(per_sec) else {
            return;
        };
        let limiter = &limiter.1;
        let burst = u64::from(self.burst_of(per_sec.min(u64::from(u32::MAX)) as u32));
        let mut left = amount;
        while left > 0 {
            let piece = left.min(burst);
            left -= piece;
            let Some(n) = NonZeroU32::new(piece as u32) else {
                continue;
            };
            loop {
                match limiter.check_n(n) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => {
                        let wait = not_until.wait_time_from(DefaultClock::default().now());
                        std::thread::sleep(wait.max(Duration::from_micros(100)));
                    }
                    // Cannot happen: pieces never exceed the burst.
                    Err(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn no_limit_never_waits() {
        let throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..1000 {
            throttle.acquire(1 << 30, 0);
            assert!(throttle.try_acquire(1 << 30, 0));
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn holds_the_rate_after_one_second_of_burst() {
        let throttle = Throttle::with_burst(Duration::from_secs(1));
        let start = Instant::now();
        // 1,000 units/s: the first 1,000 pass at once, 500 more take ~0.5 s.
        throttle.acquire(1000, 1000);
        assert!(start.elapsed() < Duration::from_millis(100));
        assert!(!throttle.try_acquire(1, 1000));
        throttle.acquire(500, 1000);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
            "{took:?}"
        );
    }

    #[test]
    fn a_short_burst_paces_from_the_start() {
        let throttle = Throttle::with_burst(Duration::from_millis(10));
        let start = Instant::now();
        for _ in 0..300 {
            throttle.acquire(1, 1000);
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
    }

    #[test]
    fn a_new_rate_applies_at_once() {
        let throttle = Throttle::with_burst(Duration::from_secs(1));
        throttle.acquire(10, 10);
        assert!(!throttle.try_acquire(10, 10));
        // Raised (CONFIG SET): the new limiter has its full burst.
        assert!(throttle.try_acquire(10, 1_000_000));
    }
}
