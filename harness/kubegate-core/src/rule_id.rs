//! Rule ids as a type: every id kubegate knows, and parsing one from text
//! (a waiver annotation, a `[[waiver]]` of kubegate.toml) with a clear error
//! for an unknown id instead of a panic.
//!
//! This module depends on nothing else of the crate, so the configuration can
//! validate the ids its waivers name without depending on the rules (which
//! depend on the configuration). Each rule's title, rationale, fix and logic
//! are declared next to each other in its family's file under `rules/`; a
//! unit test there checks that every id below has exactly one rule.

use std::fmt;
use std::str::FromStr;

macro_rules! rule_ids {
    ($($family:literal { $($variant:ident = $id:literal,)* })*) => {
        /// A stable rule id, `KG-<FAMILY>-<NNN>`. Ids never change meaning; a
        /// retired rule keeps its id reserved.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($(
                #[doc = $id]
                $variant,
            )*)*
        }

        impl RuleId {
            /// Every id, in catalog order.
            pub const ALL: &'static [RuleId] = &[$($(RuleId::$variant,)*)*];

            /// `KG-PROBE-003`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($(RuleId::$variant => $id,)*)*
                }
            }

            /// The family, the middle part of the id (`PROBE`).
            pub const fn family(self) -> &'static str {
                match self {
                    $($(RuleId::$variant => $family,)*)*
                }
            }
        }
    };
}

rule_ids! {
    "RES" { Res001 = "KG-RES-001", Res002 = "KG-RES-002", Res003 = "KG-RES-003", }
    "PROBE" {
        Probe001 = "KG-PROBE-001",
        Probe002 = "KG-PROBE-002",
        Probe003 = "KG-PROBE-003",
        Probe004 = "KG-PROBE-004",
        Probe005 = "KG-PROBE-005",
        Probe006 = "KG-PROBE-006",
    }
    "SEC" {
        Sec001 = "KG-SEC-001",
        Sec002 = "KG-SEC-002",
        Sec003 = "KG-SEC-003",
        Sec004 = "KG-SEC-004",
        Sec005 = "KG-SEC-005",
        Sec006 = "KG-SEC-006",
        Sec007 = "KG-SEC-007",
        Sec008 = "KG-SEC-008",
        Sec009 = "KG-SEC-009",
        Sec010 = "KG-SEC-010",
        Sec011 = "KG-SEC-011",
    }
    "IMG" { Img001 = "KG-IMG-001", Img002 = "KG-IMG-002", Img003 = "KG-IMG-003", }
    "SECRET" {
        Secret001 = "KG-SECRET-001",
        Secret002 = "KG-SECRET-002",
        Secret003 = "KG-SECRET-003",
        Secret004 = "KG-SECRET-004",
        Secret005 = "KG-SECRET-005",
        Secret006 = "KG-SECRET-006",
    }
    "ENV" { Env001 = "KG-ENV-001", Env002 = "KG-ENV-002", Env003 = "KG-ENV-003", }
    "SVC" { Svc001 = "KG-SVC-001", Svc002 = "KG-SVC-002", Svc003 = "KG-SVC-003", Svc004 = "KG-SVC-004", }
    "WL" {
        Wl001 = "KG-WL-001",
        Wl002 = "KG-WL-002",
        Wl003 = "KG-WL-003",
        Wl004 = "KG-WL-004",
        Wl005 = "KG-WL-005",
        Wl006 = "KG-WL-006",
    }
    "NS" { Ns001 = "KG-NS-001", }
    "LABEL" { Label001 = "KG-LABEL-001", }
    "API" { Api001 = "KG-API-001", Api002 = "KG-API-002", }
    "NET" { Net001 = "KG-NET-001", }
    "URL" { Url001 = "KG-URL-001", Url002 = "KG-URL-002", }
    "HPA" { Hpa001 = "KG-HPA-001", Hpa002 = "KG-HPA-002", }
    "CONTRACT" { Contract001 = "KG-CONTRACT-001", Contract002 = "KG-CONTRACT-002", Contract003 = "KG-CONTRACT-003", }
    "PARITY" { Parity001 = "KG-PARITY-001", Parity002 = "KG-PARITY-002", }
}

/// Text that names no rule kubegate knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule `{0}`")]
pub struct UnknownRuleId(pub String);

impl FromStr for RuleId {
    type Err = UnknownRuleId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL.iter().copied().find(|id| id.as_str() == s).ok_or_else(|| UnknownRuleId(s.to_string()))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RuleId> for String {
    fn from(id: RuleId) -> String {
        id.as_str().to_string()
    }
}

impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_name_their_family() {
        let mut seen = std::collections::BTreeSet::new();
        for id in RuleId::ALL {
            let s = id.as_str();
            assert!(seen.insert(s), "duplicate id {s}");
            let parts: Vec<&str> = s.split('-').collect();
            assert_eq!(parts.len(), 3, "{s}");
            assert_eq!(parts[0], "KG");
            assert_eq!(parts[1], id.family(), "{s}");
            assert!(parts[2].len() == 3 && parts[2].chars().all(|c| c.is_ascii_digit()), "{s}");
        }
    }

    #[test]
    fn parsing_round_trips_and_names_an_unknown_id() {
        for id in RuleId::ALL {
            assert_eq!(id.as_str().parse::<RuleId>(), Ok(*id));
        }
        let err = "KG-NOPE-001".parse::<RuleId>().expect_err("unknown");
        assert_eq!(err.to_string(), "unknown rule `KG-NOPE-001`");
    }
}
