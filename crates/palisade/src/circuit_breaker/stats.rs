//! A point-in-time snapshot of a breaker's state and statistics.

use std::time::Duration;

use super::State;

/// What a breaker knows right now: its state, its window and its totals since it was built
/// (or last [`reset`](super::CircuitBreaker::reset)).
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, State};
/// let breaker = CircuitBreaker::builder().build()?;
/// let _ = breaker.call_blocking(|| Ok::<_, ()>(1));
/// let _ = breaker.call_blocking(|| Err::<(), _>(()));
/// let stats = breaker.stats();
/// assert_eq!(stats.state, State::Closed);
/// assert_eq!((stats.successful_calls, stats.failed_calls), (1, 1));
/// assert_eq!(stats.total_calls(), 2);
/// assert_eq!(stats.consecutive_failures, 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CircuitBreakerStats {
    /// The current state.
    pub state: State,
    /// Failed calls as a percentage of the window, once it holds `minimum_calls` calls
    /// (`None` before, or without a rate condition).
    pub failure_rate: Option<f64>,
    /// Slow calls as a percentage of the window, like `failure_rate`.
    pub slow_call_rate: Option<f64>,
    /// Calls in the sliding window (0 without a rate condition).
    pub calls_in_window: u64,
    /// Failed calls in the window.
    pub failures_in_window: u64,
    /// Slow calls in the window.
    pub slow_calls_in_window: u64,
    /// Current run of consecutive failures in Closed.
    pub consecutive_failures: u32,
    /// Calls rejected without running.
    pub not_permitted_calls: u64,
    /// Time since the breaker entered its current state.
    pub time_in_state: Duration,
    /// While Open, time until trial calls are admitted.
    pub retry_after: Option<Duration>,
    /// While HalfOpen, trial calls running.
    pub trial_calls_in_flight: u32,
    /// Calls recorded as successes.
    pub successful_calls: u64,
    /// Calls recorded as failures.
    pub failed_calls: u64,
    /// Calls whose error was ignored.
    pub ignored_calls: u64,
    /// Calls at least `slow_call_duration` long (with slow-call detection on).
    pub slow_calls: u64,
}

impl CircuitBreakerStats {
    /// A snapshot in `state` with every count zero: what a store fills in (the struct is
    /// non-exhaustive, so stores outside this crate start here and set fields).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerStats, State};
    /// let mut stats = CircuitBreakerStats::new(State::Open);
    /// stats.failed_calls = 5;
    /// assert_eq!(stats.total_calls(), 5);
    /// ```
    pub fn new(state: State) -> Self {
        CircuitBreakerStats {
            state,
            failure_rate: None,
            slow_call_rate: None,
            calls_in_window: 0,
            failures_in_window: 0,
            slow_calls_in_window: 0,
            consecutive_failures: 0,
            not_permitted_calls: 0,
            time_in_state: Duration::ZERO,
            retry_after: None,
            trial_calls_in_flight: 0,
            successful_calls: 0,
            failed_calls: 0,
            ignored_calls: 0,
            slow_calls: 0,
        }
    }

    /// Calls that ran and were recorded: successes, failures and ignored.
    ///
    /// ```
    /// let stats = palisade::circuit_breaker::CircuitBreaker::builder().build()?.stats();
    /// assert_eq!(stats.total_calls(), 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn total_calls(&self) -> u64 {
        self.successful_calls + self.failed_calls + self.ignored_calls
    }
}
