//! The syntax tree of a statement or condition, as the parser ([`crate::parse`]) builds it.
//!
//! Every node that an error can point at carries its [`Span`]: byte offsets into the statement
//! text, which [`crate::error::OttlError`] turns into a line and column of the configuration.

/// Byte offsets `start..end` into the statement text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// `editor(args) where condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub editor: Call,
    pub condition: Option<Expr>,
}

/// A function call: an editor (lower-case name) or a converter (upper-case name), with the
/// keys that index its result (`Split(x, ",")[0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Arg>,
    pub keys: Vec<Key>,
    pub span: Span,
}

/// One argument, positional or named (`name = value`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<(String, Span)>,
    pub value: Expr,
}

/// A path: `span.attributes["k"][0]`, `name`, `resource.attributes[attributes["k"]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
    pub span: Span,
}

/// One dotted part of a path with its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    pub span: Span,
    pub keys: Vec<Key>,
}

/// An index: `["key"]`, `[0]` or `[expression]` (a path or a converter).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(String, Span),
    Int(i64, Span),
    Expr(Box<Expr>),
}

impl Key {
    pub fn span(&self) -> Span {
        match self {
            Key::Str(_, s) | Key::Int(_, s) => *s,
            Key::Expr(e) => e.span(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// An expression. Values and booleans share one tree (so the parser never backtracks over a
/// parenthesised group); the compiler checks that each is used where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Nil(Span),
    Bool(bool, Span),
    Int(i64, Span),
    Float(f64, Span),
    Str(String, Span),
    Bytes(Vec<u8>, Span),
    /// An upper-case identifier not followed by `(`: `SPAN_KIND_SERVER`.
    Enum(String, Span),
    Path(Path),
    Call(Call),
    List(Vec<Expr>, Span),
    Map(Vec<(String, Expr)>, Span),
    Math(Box<Expr>, MathOp, Box<Expr>, Span),
    Cmp(Box<Expr>, CmpOp, Box<Expr>, Span),
    And(Vec<Expr>, Span),
    Or(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    /// A parenthesised expression (kept so that errors point at the group).
    Group(Box<Expr>, Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Nil(s)
            | Expr::Bool(_, s)
            | Expr::Int(_, s)
            | Expr::Float(_, s)
            | Expr::Str(_, s)
            | Expr::Bytes(_, s)
            | Expr::Enum(_, s)
            | Expr::List(_, s)
            | Expr::Map(_, s)
            | Expr::Math(_, _, _, s)
            | Expr::Cmp(_, _, _, s)
            | Expr::And(_, s)
            | Expr::Or(_, s)
            | Expr::Not(_, s)
            | Expr::Group(_, s) => *s,
            Expr::Path(p) => p.span,
            Expr::Call(c) => c.span,
        }
    }

    /// Every path in this expression, in order (for context inference).
    pub fn paths<'e>(&'e self, out: &mut Vec<&'e Path>) {
        match self {
            Expr::Path(p) => {
                out.push(p);
                for s in &p.segments {
                    keys_paths(&s.keys, out);
                }
            }
            Expr::Call(c) => c.paths(out),
            Expr::List(items, _) => items.iter().for_each(|e| e.paths(out)),
            Expr::Map(items, _) => items.iter().for_each(|(_, e)| e.paths(out)),
            Expr::Math(a, _, b, _) | Expr::Cmp(a, _, b, _) => {
                a.paths(out);
                b.paths(out);
            }
            Expr::And(items, _) | Expr::Or(items, _) => items.iter().for_each(|e| e.paths(out)),
            Expr::Not(e, _) | Expr::Group(e, _) => e.paths(out),
            _ => {}
        }
    }
}

fn keys_paths<'e>(keys: &'e [Key], out: &mut Vec<&'e Path>) {
    for k in keys {
        if let Key::Expr(e) = k {
            e.paths(out);
        }
    }
}

impl Call {
    pub fn paths<'e>(&'e self, out: &mut Vec<&'e Path>) {
        for a in &self.args {
            a.value.paths(out);
        }
        keys_paths(&self.keys, out);
    }
}

impl Statement {
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        self.editor.paths(&mut out);
        if let Some(c) = &self.condition {
            c.paths(&mut out);
        }
        out
    }
}
