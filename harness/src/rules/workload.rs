//! Rules of this family (being implemented).

use super::{RuleContext, Sink};

pub(super) fn check(_ctx: &RuleContext<'_>, _sink: &mut Sink<'_>) {}
