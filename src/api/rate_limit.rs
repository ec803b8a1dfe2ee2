//! Request budgets in fixed windows: per token an hour (§2), and per
//! client address for the unauthenticated verification callback.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// The window of per-token budgets.
pub const WINDOW_SECS: i64 = 3600;

/// Most keys remembered; past it, ended windows are forgotten, and if every
/// window is still running, the tenth that started first, so no stream of
/// new keys grows memory without bound, nor wipes the budgets of the rest.
const MAX_KEYS: usize = 10_000;

/// What one request's check found, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window ends.
    pub reset: i64,
    pub allowed: bool,
}

/// Budgets of `limit` requests per key per window.
pub struct RateLimiter<K = i64> {
    limit: u32,
    window_secs: i64,
    windows: Mutex<HashMap<K, (i64, u32)>>,
}

impl RateLimiter<i64> {
    /// `limit` requests per hour per token id; 0 turns limiting off.
    pub fn new(limit: u32) -> Self {
        RateLimiter::per_window(limit, WINDOW_SECS)
    }
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `limit` requests per `window_secs` per key; 0 turns limiting off.
    pub fn per_window(limit: u32, window_secs: i64) -> Self {
        RateLimiter {
            limit,
            window_secs,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` at `now`; `None` when limiting is off.
    pub fn check(&self, key: K, now: i64) -> Option<Budget> {
        if self.limit == 0 {
            return None;
        }
        let window = self.window_secs;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
            windows.retain(|_, (start, _)| now < *start + window);
            if windows.len() >= MAX_KEYS {
                forget_oldest_tenth(&mut windows);
            }
        }
        let entry = windows.entry(key).or_insert((now, 0));
        if now >= entry.0 + window {
            *entry = (now, 0);
        }
        let allowed = entry.1 < self.limit;
        if allowed {
            entry.1 += 1;
        }
        Some(Budget {
            limit: self.limit,
            remaining: self.limit - entry.1,
            reset: entry.0 + window,
            allowed,
        })
    }
}

/// Forgets the tenth of the windows that started first.
fn forget_oldest_tenth<K>(windows: &mut HashMap<K, (i64, u32)>) {
    let mut starts: Vec<i64> = windows.values().map(|(start, _)| *start).collect();
    let tenth = starts.len() / 10;
    let (_, &mut cut, _) = starts.select_nth_unstable(tenth);
    let mut forget = tenth + 1;
    windows.retain(|_, (start, _)| {
        let keep = *start > cut || forget == 0;
        if !keep {
            forget -= 1;
        }
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_refuses_then_resets() {
        let limiter = RateLimiter::new(2);
        let first = limiter.check(1, 1000).unwrap();
        assert_eq!(
            (first.remaining, first.reset, first.allowed),
            (1, 4600, true)
        );
        assert!(limiter.check(1, 1001).unwrap().allowed);
        let refused = limiter.check(1, 1002).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(
            limiter.check(2, 1002).unwrap().allowed,
            "tokens have their own budgets"
        );
        assert!(
            limiter.check(1, 4600).unwrap().allowed,
            "a new window starts"
        );
    }

    #[test]
    fn windows_may_be_shorter_and_keyed_by_anything() {
        let limiter = RateLimiter::per_window(1, 60);
        assert!(limiter.check("a", 0).unwrap().allowed);
        assert!(!limiter.check("a", 59).unwrap().allowed);
        assert!(limiter.check("b", 59).unwrap().allowed);
        assert!(limiter.check("a", 60).unwrap().allowed);
    }

    #[test]
    fn a_flood_of_new_keys_forgets_the_oldest_windows_not_every_one() {
        let limiter = RateLimiter::per_window(1, 60);
        assert!(limiter.check(u32::MAX, 30).unwrap().allowed);
        assert!(!limiter.check(u32::MAX, 30).unwrap().allowed);
        for key in 0..(MAX_KEYS as u32 * 2) {
            limiter.check(key, 10 + i64::from(key % 10));
        }
        let windows = limiter.windows.lock().unwrap().len();
        assert!(windows <= MAX_KEYS, "{windows} windows kept");
        assert!(
            !limiter.check(u32::MAX, 31).unwrap().allowed,
            "a newer window was forgotten for older ones"
        );
    }

    #[test]
    fn zero_turns_it_off() {
        assert_eq!(RateLimiter::new(0).check(1, 0), None);
    }
}
