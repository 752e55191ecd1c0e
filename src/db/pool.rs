//! The idle-connection pool both connection-holding backends use (SQLite
//! and direct Oracle): last in, first out, so the warmest connection (its
//! statement cache, its verified set) is reused first, and bounded so a
//! burst does not keep connections open forever.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Connections not in use, ready for the next call.
pub(crate) struct IdlePool<C> {
    idle: Mutex<Vec<C>>,
    max_idle: usize,
}

impl<C> IdlePool<C> {
    /// A pool holding `first` (if any) that keeps at most `max_idle`.
    pub(crate) fn new(first: Option<C>, max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(first.into_iter().collect()),
            max_idle,
        }
    }

    /// A panic while the lock was held cannot leave the list half-changed
    /// (push and pop are whole), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Vec<C>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently returned connection, if any.
    pub(crate) fn take(&self) -> Option<C> {
        self.lock().pop()
    }

    /// Keeps `conn` for reuse, or drops it (after the lock is released)
    /// when the pool is full.
    pub(crate) fn put(&self, conn: C) {
        let surplus = {
            let mut idle = self.lock();
            if idle.len() < self.max_idle {
                idle.push(conn);
                None
            } else {
                Some(conn)
            }
        };
        drop(surplus);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Removes every idle connection (shutdown closes them elsewhere).
    pub(crate) fn drain(&mut self) -> Vec<C> {
        std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner))
    }

    /// Looks at the idle connections (tests).
    #[cfg(test)]
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&[C]) -> R) -> R {
        f(&self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::IdlePool;

    #[test]
    fn last_in_first_out_and_bounded() {
        let pool = IdlePool::new(Some(1), 2);
        pool.put(2);
        pool.put(3); // full: dropped
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.take(), Some(2));
        assert_eq!(pool.take(), Some(1));
        assert_eq!(pool.take(), None);
        assert!(pool.is_empty());
    }
}
