//! One service of a running container, every call checked against the
//! contract: `api.expect("GET /api/tasks?status=bogus", t, None, 400)`.

use super::app::send;
use super::contract::{Answer, Contract};
use serde_json::Value;

/// A service at `base`, as the contract names it (`backend`, `frontend`).
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    contract: &'a Contract,
    service: &'a str,
    base: &'a str,
}

impl<'a> Endpoint<'a> {
    pub fn new(contract: &'a Contract, service: &'a str, base: &'a str) -> Self {
        Endpoint { contract, service, base }
    }

    /// Send `call` (`"METHOD /path?query"`), insist on the status this
    /// scenario expects, and check the answer against the contract's
    /// operation the path matches.
    pub async fn expect(&self, call: &str, token: Option<&str>, body: Option<Value>, status: u16) -> Answer {
        let (method, path) = call.split_once(' ').unwrap_or_else(|| panic!("{call:?} is not \"METHOD /path\""));
        let service = self.service;
        let template = self
            .contract
            .template_for(method, path)
            .unwrap_or_else(|| panic!("{service}: the contract has no operation matching {method} {path}"));
        let answer = send(method, &format!("{}{path}", self.base), token, body).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            answer.status,
            status,
            "{service}: {method} {path}: expected {status}, body: {}",
            String::from_utf8_lossy(&answer.body)
        );
        if let Err(e) = self.contract.check(service, method, &template, &answer) {
            panic!("{e}");
        }
        answer
    }
}
