//! Several endpoints serving one model (a pool of vLLM, Ollama or llama.cpp servers): each call
//! goes to the live endpoint with the fewest calls in flight, and an endpoint that cannot be
//! reached (no connection, or no answer in time, after the client's own retries) is taken out
//! for the rest of the run, its call redone on another.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{ChatOptions, Completion, LlmClient, LlmError, LlmUsage, Message};

pub struct ClientPool {
    clients: Vec<LlmClient>,
    in_flight: Vec<AtomicUsize>,
    dead: Vec<AtomicBool>,
}

/// Whether the endpoint itself is gone (as opposed to refusing this one request).
fn endpoint_down(e: &LlmError) -> bool {
    match e {
        LlmError::Connect { .. } | LlmError::Timeout { .. } | LlmError::Deadline { .. } => true,
        LlmError::Exhausted { last, .. } => endpoint_down(last),
        _ => false,
    }
}

impl ClientPool {
    /// A pool of `clients` (at least one).
    pub fn new(clients: Vec<LlmClient>) -> Result<Self, LlmError> {
        if clients.is_empty() {
            return Err(LlmError::Config("an endpoint pool needs at least one endpoint".into()));
        }
        let n = clients.len();
        Ok(Self {
            clients,
            in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            dead: (0..n).map(|_| AtomicBool::new(false)).collect(),
        })
    }

    pub fn clients(&self) -> &[LlmClient] {
        &self.clients
    }

    /// Calls the pool can have in flight: every endpoint's concurrency, summed.
    pub fn concurrency(&self) -> usize {
        self.clients.iter().map(|c| c.config().concurrency.max(1)).sum()
    }

    /// Endpoints taken out, as safe to print.
    pub fn dead_endpoints(&self) -> Vec<&str> {
        self.clients
            .iter()
            .zip(&self.dead)
            .filter(|(_, d)| d.load(Ordering::SeqCst))
            .map(|(c, _)| c.endpoint())
            .collect()
    }

    /// One chat completion on the least-loaded live endpoint; when that endpoint is down it is
    /// taken out and the call goes to the next. Errors of the request itself (a refused image,
    /// an unusable answer) come back as they are: another endpoint of the same model would
    /// answer the same.
    pub fn chat(&self, messages: &[Message], opts: &ChatOptions) -> Result<Completion, LlmError> {
        let mut last = None;
        while let Some(i) = self.pick() {
            let result = self.clients[i].chat(messages, opts);
            self.in_flight[i].fetch_sub(1, Ordering::SeqCst);
            match result {
                Err(e) if endpoint_down(&e) => {
                    self.dead[i].store(true, Ordering::SeqCst);
                    last = Some(e);
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| LlmError::Config("every endpoint of the pool is down".into())))
    }

    /// The live endpoint with the fewest calls in flight (ties: the first), its count taken.
    fn pick(&self) -> Option<usize> {
        loop {
            let i = (0..self.clients.len())
                .filter(|&i| !self.dead[i].load(Ordering::SeqCst))
                .min_by_key(|&i| self.in_flight[i].load(Ordering::SeqCst))?;
            let seen = self.in_flight[i].load(Ordering::SeqCst);
            if self.in_flight[i].compare_exchange(seen, seen + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Some(i);
            }
        }
    }

    /// Every endpoint's usage, summed (the model is the first endpoint's).
    pub fn usage(&self) -> LlmUsage {
        let mut total = LlmUsage { model: self.clients[0].config().model.clone(), ..LlmUsage::default() };
        for u in self.clients.iter().map(LlmClient::usage) {
            total.calls += u.calls;
            total.failed_calls += u.failed_calls;
            total.retries += u.retries;
            total.prompt_tokens += u.prompt_tokens;
            total.completion_tokens += u.completion_tokens;
            total.seconds += u.seconds;
            total.cache_hits += u.cache_hits;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmConfig;
    use crate::testing::fake_server::{FakeServer, Reply};
    use std::time::Duration;

    fn client(url: String) -> LlmClient {
        let cfg = LlmConfig::new(url, "m").with_max_retries(1).with_backoff(Duration::from_millis(5));
        LlmClient::new(cfg).unwrap()
    }

    #[test]
    fn calls_spread_over_live_endpoints_and_a_dead_one_is_taken_out() {
        let a = FakeServer::with_handler(|_| Reply::content("from a"));
        let b = FakeServer::with_handler(|_| Reply::content("from b"));
        // Nothing listens here: the port of a server that was started and stopped.
        let gone = {
            let s = FakeServer::with_handler(|_| Reply::content("never"));
            s.base_url()
        };
        let pool = ClientPool::new(vec![client(gone), client(a.base_url()), client(b.base_url())]).unwrap();
        let msgs = [Message::user("hi")];
        let answers: Vec<String> = crate::llm::parallel_map(40, 8, "test", false, |_| {
            pool.chat(&msgs, &ChatOptions::default()).unwrap().content
        });
        assert_eq!(answers.len(), 40);
        assert_eq!(pool.dead_endpoints().len(), 1);
        let (na, nb) = (a.requests().len(), b.requests().len());
        assert_eq!(na + nb, 40, "each call answered once");
        assert!(na >= 10 && nb >= 10, "load spread: {na} / {nb}");
        assert_eq!(pool.usage().calls, 40);
    }

    #[test]
    fn a_refused_request_is_not_sent_elsewhere_and_no_endpoint_is_taken_out() {
        let a = FakeServer::with_handler(|_| Reply::status(400, "image too large"));
        let b = FakeServer::with_handler(|_| Reply::status(400, "image too large"));
        let pool = ClientPool::new(vec![client(a.base_url()), client(b.base_url())]).unwrap();
        let e = pool.chat(&[Message::user("hi")], &ChatOptions::default()).unwrap_err();
        assert!(e.to_string().contains("HTTP 400"), "{e}");
        assert_eq!(a.requests().len() + b.requests().len(), 1);
        assert!(pool.dead_endpoints().is_empty());
    }

    #[test]
    fn every_endpoint_down_is_an_error_that_names_the_last() {
        let urls: Vec<String> = (0..2).map(|_| FakeServer::with_handler(|_| Reply::content("x")).base_url()).collect();
        let pool = ClientPool::new(urls.into_iter().map(client).collect()).unwrap();
        let e = pool.chat(&[Message::user("hi")], &ChatOptions::default()).unwrap_err();
        assert!(e.to_string().contains("cannot connect"), "{e}");
        assert_eq!(pool.dead_endpoints().len(), 2);
        assert!(ClientPool::new(Vec::new()).is_err());
    }
}
