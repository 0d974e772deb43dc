//! Running statements and conditions over a whole request.
//!
//! A request is walked into a tree of [`Node`]s (resource → scope → items → span events or data
//! points), which borrows the received bytes and costs no decoding. [`transform`] runs each
//! statement group over the nodes of its context, group after group (a later group sees what
//! an earlier one wrote, as in the Collector); [`filter`] marks the items its conditions match
//! as removed. The request is then rebuilt with `pdata::Regroup` from byte ranges: untouched
//! items, scope and resource headers are copied as they are, edited ones re-encoded
//! ([`Node::encode`]); groups left without items disappear. When nothing changed, the caller
//! forwards the very same bytes ([`Outcome::Unchanged`]).

use crate::error::EvalError;
use crate::eval::Ctx;
use crate::node::{Node, NodeKind};
use crate::{Conditions, ContextKind, ErrorMode, StatementGroup};
use std::ops::Range;
use weir_core::pdata::edit;
use weir_core::pdata::proto;
use weir_core::pdata::views::{MetricView, ResourceGroupView, ScopeGroupView};
use weir_core::pdata::{Payload, Regroup, Signal};

/// What becomes of a request.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing changed: forward the request as it is.
    Unchanged,
    /// Nothing is left.
    Empty,
    /// The rebuilt request.
    Rebuilt(Payload),
}

/// Errors met (and let go) while running, for one log line per request.
#[derive(Debug, Default)]
pub struct RunStats {
    pub errors: u64,
    pub first_error: Option<String>,
    /// Whether the errors should be logged (`ignore`) or not (`silent`).
    pub log: bool,
}

impl RunStats {
    pub(crate) fn error(&mut self, mode: ErrorMode, text: &str, e: EvalError) {
        self.errors += 1;
        if mode == ErrorMode::Ignore {
            self.log = true;
            if self.first_error.is_none() {
                self.first_error = Some(format!("{text}: {e}"));
            }
        }
    }
}

struct ScopeDoc<'a> {
    group: ScopeGroupView<'a>,
    node: Node<'a>,
    items: Vec<Option<Node<'a>>>,
}

struct ResourceDoc<'a> {
    group: ResourceGroupView<'a>,
    node: Node<'a>,
    scopes: Vec<ScopeDoc<'a>>,
}

fn item_kind(signal: Signal) -> NodeKind {
    match signal {
        Signal::Traces => NodeKind::Span,
        Signal::Logs => NodeKind::Log,
        Signal::Metrics => NodeKind::Metric,
    }
}

fn build(payload: &Payload) -> Result<Vec<ResourceDoc<'_>>, EvalError> {
    let kind = item_kind(payload.signal());
    let mut out = Vec::new();
    for rg in payload.view().resources() {
        let rg = rg?;
        let mut scopes = Vec::new();
        for sg in rg.scopes() {
            let sg = sg?;
            let mut items = Vec::new();
            for item in sg.items() {
                items.push(Some(Node::new(kind, item?)));
            }
            scopes.push(ScopeDoc { group: sg, node: Node::new(NodeKind::Scope, sg.scope()?.bytes()), items });
        }
        out.push(ResourceDoc { group: rg, node: Node::new(NodeKind::Resource, rg.resource()?.bytes()), scopes });
    }
    Ok(out)
}

/// Calls `f` with a context for every node of `context` in the tree.
fn for_each<'a>(
    docs: &mut [ResourceDoc<'a>],
    context: ContextKind,
    f: &mut dyn FnMut(&mut Ctx<'_, 'a>) -> Result<Keep, EvalError>,
) -> Result<(), EvalError> {
    for r in docs.iter_mut() {
        let ResourceDoc { node: rnode, scopes, .. } = r;
        if context == ContextKind::Resource {
            f(&mut Ctx::new(rnode, None, None, None))?;
            continue;
        }
        for s in scopes.iter_mut() {
            let ScopeDoc { node: snode, items, .. } = s;
            if context == ContextKind::Scope {
                f(&mut Ctx::new(rnode, Some(&mut *snode), None, None))?;
                continue;
            }
            for slot in items.iter_mut() {
                let Some(item) = slot else { continue };
                match context {
                    ContextKind::SpanEvent | ContextKind::DataPoint => {
                        // Children are read through a copy of their slot list so that the item
                        // (their parent) can be lent to the context beside them.
                        let mut children = std::mem::take(item.children_mut()?);
                        for child in children.iter_mut() {
                            let Some(c) = child else { continue };
                            if f(&mut Ctx::new(rnode, Some(&mut *snode), Some(&mut *item), Some(c)))? == Keep::Drop {
                                *child = None;
                            }
                        }
                        item.children = Some(children);
                    }
                    _ => {
                        if f(&mut Ctx::new(rnode, Some(&mut *snode), Some(&mut *item), None))? == Keep::Drop {
                            *slot = None;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Keep,
    Drop,
}

/// Runs `groups` over `payload`, in order.
pub fn transform(payload: &Payload, groups: &[StatementGroup], stats: &mut RunStats) -> Result<Outcome, EvalError> {
    if groups.is_empty() || payload.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let mut docs = build(payload)?;
    for g in groups {
        for_each(&mut docs, g.context, &mut |ctx| {
            g.execute(ctx, stats)?;
            Ok(Keep::Keep)
        })?;
    }
    encode(payload.signal(), &docs)
}

/// The conditions of a `filter`: an item (or span event, data point) is dropped when any
/// condition of its context holds.
#[derive(Debug, Default)]
pub struct FilterSpec {
    /// Conditions on the items: spans, log records or metrics.
    pub items: Conditions,
    /// Conditions on span events or data points.
    pub children: Conditions,
}

/// Drops what `spec` matches from `payload`. A metric left without data points is dropped too.
pub fn filter(payload: &Payload, spec: &FilterSpec, stats: &mut RunStats) -> Result<Outcome, EvalError> {
    if payload.is_empty() || (spec.items.is_empty() && spec.children.is_empty()) {
        return Ok(Outcome::Unchanged);
    }
    let mut docs = build(payload)?;
    let signal = payload.signal();
    let (item_ctx, child_ctx) = match signal {
        Signal::Traces => (ContextKind::Span, ContextKind::SpanEvent),
        Signal::Logs => (ContextKind::Log, ContextKind::Log),
        Signal::Metrics => (ContextKind::Metric, ContextKind::DataPoint),
    };
    if !spec.items.is_empty() {
        for_each(&mut docs, item_ctx, &mut |ctx| {
            Ok(if spec.items.any(ctx, stats)? { Keep::Drop } else { Keep::Keep })
        })?;
    }
    if !spec.children.is_empty() && signal != Signal::Logs {
        for_each(&mut docs, child_ctx, &mut |ctx| {
            Ok(if spec.children.any(ctx, stats)? { Keep::Drop } else { Keep::Keep })
        })?;
        if signal == Signal::Metrics {
            // A metric whose data points were all dropped goes too (the Collector's rule).
            for r in docs.iter_mut() {
                for s in r.scopes.iter_mut() {
                    for slot in s.items.iter_mut() {
                        let emptied = slot.as_ref().is_some_and(|m| {
                            m.children.as_ref().is_some_and(|c| !c.is_empty() && c.iter().all(Option::is_none))
                        });
                        if emptied {
                            *slot = None;
                        }
                    }
                }
            }
        }
    }
    encode(signal, &docs)
}

enum Part<'a> {
    Received(&'a [u8]),
    Arena(Range<usize>),
}

/// A scope header and its items.
type ScopePlan<'p> = (Part<'p>, Vec<Part<'p>>);

fn encode(signal: Signal, docs: &[ResourceDoc<'_>]) -> Result<Outcome, EvalError> {
    let changed = docs.iter().any(|r| {
        r.node.is_changed()
            || r.scopes
                .iter()
                .any(|s| s.node.is_changed() || s.items.iter().any(|i| i.as_ref().is_none_or(|i| i.is_changed())))
    });
    if !changed {
        return Ok(Outcome::Unchanged);
    }
    let mut arena: Vec<u8> = Vec::new();
    let push = |arena: &mut Vec<u8>, bytes: &[u8]| {
        let start = arena.len();
        arena.extend_from_slice(bytes);
        Part::Arena(start..arena.len())
    };
    // Plan every piece first (the arena grows), then lend it to the Regroup.
    let mut plan: Vec<(Part<'_>, Vec<ScopePlan<'_>>)> = Vec::new();
    let mut count = 0usize;
    for r in docs {
        let mut scopes = Vec::new();
        for s in &r.scopes {
            let mut items = Vec::new();
            for item in s.items.iter().flatten() {
                let bytes = item.encode()?;
                count += match signal {
                    Signal::Metrics => MetricView::new(&bytes).data_point_count()?,
                    _ => 1,
                };
                items.push(match bytes {
                    std::borrow::Cow::Borrowed(b) => Part::Received(b),
                    std::borrow::Cow::Owned(b) => push(&mut arena, &b),
                });
            }
            if items.is_empty() {
                continue;
            }
            let header = if s.node.is_changed() {
                let mut h = Vec::new();
                edit::copy_fields(&mut h, s.group.bytes(), |f| {
                    f.number != proto::scope_group::SCOPE && f.number != proto::scope_group::ITEMS
                })?;
                edit::write_bytes_field(&mut h, proto::scope_group::SCOPE, &s.node.encode()?);
                push(&mut arena, &h)
            } else {
                Part::Received(s.group.bytes())
            };
            scopes.push((header, items));
        }
        if scopes.is_empty() {
            continue;
        }
        let header = if r.node.is_changed() {
            let mut h = Vec::new();
            edit::copy_fields(&mut h, r.group.bytes(), |f| {
                f.number != proto::resource_group::RESOURCE && f.number != proto::resource_group::SCOPE_GROUPS
            })?;
            edit::write_bytes_field(&mut h, proto::resource_group::RESOURCE, &r.node.encode()?);
            push(&mut arena, &h)
        } else {
            Part::Received(r.group.bytes())
        };
        plan.push((header, scopes));
    }
    if count == 0 && plan.is_empty() {
        return Ok(Outcome::Empty);
    }
    fn part<'p>(p: &Part<'p>, arena: &'p [u8]) -> &'p [u8] {
        match p {
            Part::Received(b) => b,
            Part::Arena(r) => &arena[r.clone()],
        }
    }
    let slice = |p| part(p, &arena);
    let mut regroup = Regroup::new();
    for (rh, scopes) in &plan {
        regroup.push_resource(ResourceGroupView::new(slice(rh)))?;
        for (sh, items) in scopes {
            regroup.push_scope(ScopeGroupView::new(slice(sh)))?;
            for item in items {
                regroup.push_item(slice(item));
            }
        }
    }
    Ok(Outcome::Rebuilt(Payload::from_counted(signal, regroup.finish(), count)))
}
