//! Idle backoff for poll-mode workers: after a run of empty polls, sleep in short ramping
//! steps (so a quiet node does not burn its cores), and go back to spinning at the first
//! packet. `poll_mode` turns sleeping off entirely, for benchmarks.

use std::time::Duration;

/// Empty polls before the first sleep: about a few microseconds of spinning.
const SPIN_POLLS: u32 = 256;
const FIRST_SLEEP_US: u64 = 1;
const MAX_SLEEP_US: u64 = 500;

/// Per-worker backoff state.
#[derive(Debug, Clone)]
pub struct IdleBackoff {
    poll_mode: bool,
    empty: u32,
    sleep_us: u64,
    /// Total sleeps taken (reported in worker stats).
    pub sleeps: u64,
}

impl IdleBackoff {
    pub fn new(poll_mode: bool) -> Self {
        IdleBackoff {
            poll_mode,
            empty: 0,
            sleep_us: FIRST_SLEEP_US,
            sleeps: 0,
        }
    }

    /// Call once per loop with how many packets the loop handled.
    #[inline]
    pub fn after_poll(&mut self, packets: usize) {
        if packets > 0 {
            self.empty = 0;
            self.sleep_us = FIRST_SLEEP_US;
            return;
        }
        if self.poll_mode {
            return;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty >= SPIN_POLLS {
            std::thread::sleep(Duration::from_micros(self.sleep_us));
            self.sleeps += 1;
            self.sleep_us = (self.sleep_us * 2).min(MAX_SLEEP_US);
        }
    }

    /// Whether `after_poll(packets)` would sleep.
    #[inline]
    pub fn will_sleep(&self, packets: usize) -> bool {
        packets == 0 && !self.poll_mode && self.empty.saturating_add(1) >= SPIN_POLLS
    }

    /// The next sleep (for tests and stats).
    pub fn next_sleep(&self) -> Option<Duration> {
        (!self.poll_mode && self.empty >= SPIN_POLLS).then(|| Duration::from_micros(self.sleep_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_up_when_idle_and_resets_on_traffic() {
        let mut b = IdleBackoff::new(false);
        for _ in 0..SPIN_POLLS - 1 {
            b.after_poll(0);
        }
        assert_eq!(b.sleeps, 0, "spins first");
        b.after_poll(0);
        b.after_poll(0);
        assert_eq!(b.sleeps, 2);
        assert_eq!(b.next_sleep(), Some(Duration::from_micros(4)));
        for _ in 0..20 {
            b.after_poll(0);
        }
        assert_eq!(
            b.next_sleep(),
            Some(Duration::from_micros(MAX_SLEEP_US)),
            "capped"
        );
        b.after_poll(5);
        assert_eq!(b.next_sleep(), None, "traffic resets the ramp");
    }

    #[test]
    fn poll_mode_never_sleeps() {
        let mut b = IdleBackoff::new(true);
        for _ in 0..10_000 {
            b.after_poll(0);
        }
        assert_eq!(b.sleeps, 0);
    }
}
