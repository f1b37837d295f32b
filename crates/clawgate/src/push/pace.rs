//! At most one push per person per interval: an agent (or a leaked key) asking again and again
//! must not turn the person's phone into a pager they learn to dismiss (approval fatigue). What
//! arrives in between is held and sent as one "N requests are waiting" when the interval ends.
//! Per instance: several instances each keep their own pace.

use super::notice::RequestNote;
use crate::domain::ids::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Above this many people tracked, those with nothing held and a finished interval are dropped.
const PRUNE_AT: usize = 10_000;

/// What to do with a new request's push.
#[derive(Debug, PartialEq, Eq)]
pub enum Pace {
    /// Send it now.
    Now,
    /// Held; send what is held at this instant (the first held request schedules it).
    At(Instant),
    /// Held with others already scheduled.
    Held,
}

struct Person {
    last_sent: Instant,
    held: Option<(u32, RequestNote)>,
}

pub struct Pacer {
    interval: Duration,
    people: Mutex<HashMap<UserId, Person>>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Self { interval, people: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Person>> {
        self.people.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn offer(&self, user: &UserId, note: RequestNote) -> Pace {
        let now = Instant::now();
        let mut people = self.lock();
        if people.len() > PRUNE_AT {
            let interval = self.interval;
            people.retain(|_, p| p.held.is_some() || now.duration_since(p.last_sent) < interval);
        }
        let Some(person) = people.get_mut(user) else {
            people.insert(user.clone(), Person { last_sent: now, held: None });
            return Pace::Now;
        };
        match &mut person.held {
            Some((count, latest)) => {
                *count += 1;
                *latest = note;
                Pace::Held
            }
            None if now.duration_since(person.last_sent) >= self.interval => {
                person.last_sent = now;
                Pace::Now
            }
            None => {
                person.held = Some((1, note));
                Pace::At(person.last_sent + self.interval)
            }
        }
    }

    /// What was held for `user` (how many, the newest), now sent.
    pub fn release(&self, user: &UserId) -> Option<(u32, RequestNote)> {
        let mut people = self.lock();
        let person = people.get_mut(user)?;
        person.last_sent = Instant::now();
        person.held.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::RequestId;

    fn note() -> RequestNote {
        RequestNote { request_id: RequestId::generate(), agent_id: None, ttl_secs: 300 }
    }

    #[tokio::test(start_paused = true)]
    async fn one_push_per_interval_and_the_rest_collapsed() {
        let pacer = Pacer::new(Duration::from_secs(30));
        let (ada, bob) = (UserId::generate(), UserId::generate());
        assert_eq!(pacer.offer(&ada, note()), Pace::Now);
        assert_eq!(pacer.offer(&bob, note()), Pace::Now, "people are paced separately");
        let Pace::At(when) = pacer.offer(&ada, note()) else { panic!("the second is scheduled") };
        assert_eq!(pacer.offer(&ada, note()), Pace::Held);
        let last = note();
        assert_eq!(pacer.offer(&ada, last.clone()), Pace::Held);
        tokio::time::sleep_until(when).await;
        let (count, newest) = pacer.release(&ada).expect("held");
        assert_eq!((count, newest.request_id), (3, last.request_id));
        assert!(pacer.release(&ada).is_none());
        let Pace::At(_) = pacer.offer(&ada, note()) else { panic!("the interval restarts at the release") };
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(pacer.offer(&bob, note()), Pace::Now);
    }
}
