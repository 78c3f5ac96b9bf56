//! Time as an injected dependency, so waits, timers and lease expiry are decided from a value the
//! caller controls and tests never sleep.

use std::sync::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> jiff::Timestamp;
}

/// The machine's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// A clock that moves only when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<jiff::Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: jiff::Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        let by = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A clock that runs `speed` times faster than the wall clock from a starting instant: sim time =
/// `start + speed * real time elapsed since creation`. The playground uses it so a canary with
/// minutes-long pauses plays out in seconds; it never goes backwards (it reads a monotonic clock).
#[derive(Debug)]
pub struct ScaledClock {
    start: jiff::Timestamp,
    origin: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock starting at the current wall-clock time and running `speed` times as fast
    /// (`1.0` is real time; values that are not finite and positive count as `1.0`).
    pub fn new(speed: f64) -> Self {
        ScaledClock::starting_at(jiff::Timestamp::now(), speed)
    }

    /// A clock starting at `start` and running `speed` times as fast.
    pub fn starting_at(start: jiff::Timestamp, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        ScaledClock {
            start,
            origin: std::time::Instant::now(),
            speed,
        }
    }

    /// How many times faster than real time this clock runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real time it takes for `sim` to pass on this clock (for sleeping until a sim deadline).
    pub fn real_duration(&self, sim: std::time::Duration) -> std::time::Duration {
        sim.div_f64(self.speed)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> jiff::Timestamp {
        let elapsed = self.origin.elapsed().as_secs_f64() * self.speed;
        let by =
            jiff::SignedDuration::try_from_secs_f64(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.start.saturating_add(by).unwrap_or(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = jiff::Timestamp::from_second(1_000).expect("valid");
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now().as_second(), 1_090);
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time_from_its_start() {
        let start = jiff::Timestamp::from_second(1_000).expect("valid");
        let clock = ScaledClock::starting_at(start, 1_000.0);
        let first = clock.now();
        assert!(first >= start);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = clock.now();
        // 20 ms of real time is at least 20 s of sim time at 1000x.
        assert!(later.duration_since(first).as_secs_f64() >= 19.0);
        assert_eq!(
            clock
                .real_duration(std::time::Duration::from_secs(10))
                .as_millis(),
            10
        );
    }
}
