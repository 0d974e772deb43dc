//! The OTTL grammar, parsed with `winnow`.
//!
//! ```text
//! statement  := call ('where' expr)? EOF              (the call is an editor: lower-case name)
//! condition  := expr EOF
//! expr       := and ('or' and)*
//! and        := not ('and' not)*
//! not        := 'not'* cmp
//! cmp        := sum (('=='|'!='|'<='|'>='|'<'|'>') sum)?
//! sum        := product (('+'|'-') product)*
//! product    := primary (('*'|'/') primary)*
//! primary    := '(' expr ')' | 'nil' | 'true' | 'false' | number | string | 0xHEX
//!             | '[' (expr (',' expr)*)? ']' | '{' (string ':' expr ','?)* '}'
//!             | Name '(' args ')' key* | name '(' args ')' key*     (converter, editor)
//!             | ENUM | path
//! path       := segment ('.' segment)*           segment := name key*
//! key        := '[' (string | int | expr) ']'
//! args       := (arg (',' arg)*)?                arg := (name '=')? expr
//! ```
//!
//! Values and boolean expressions share one precedence ladder, the Collector's: `not` binds
//! tightest, then `and`, then `or`; comparisons compare two values; `*` and `/` bind tighter
//! than `+` and `-`. Sharing it means a parenthesised group is parsed once, whatever it turns
//! out to be, so the parser never backtracks over a subtree (no exponential inputs); the
//! compiler then checks that a condition is where a boolean belongs and a value where a value
//! does. Lexical rules are the Collector's: strings in double quotes with Go escapes, ints and
//! floats with an optional sign, `0x` byte literals, enums as upper-case identifiers.
//!
//! Hostile input is bounded before it is parsed: statements longer than
//! [`MAX_STATEMENT_LEN`] bytes, nesting brackets deeper than [`MAX_DEPTH`], with more than
//! [`MAX_OPERATORS`] arithmetic operators or more than [`MAX_DEPTH`] `not` in a row are
//! refused, so the tree's depth (and the recursion of parsing, compiling and dropping it) is
//! bounded by construction.

use crate::ast::*;
use crate::error::OttlError;
use winnow::error::{ErrMode, ParserError};
use winnow::prelude::*;
use winnow::stream::Stateful;
use winnow::token::take_while;

/// Longest statement or condition accepted, in bytes.
pub const MAX_STATEMENT_LEN: usize = 64 * 1024;
/// Deepest nesting of `(`, `[` and `{` accepted.
pub const MAX_DEPTH: usize = 64;
/// Most arithmetic operators (`+ - * /`, signs included) in one statement: each chain nests
/// the tree one level deeper.
pub const MAX_OPERATORS: usize = 256;

/// The input: the text left, and the length of the whole statement (to compute offsets).
type In<'i> = Stateful<&'i str, usize>;

/// A parse failure: where (as the length of the input left) and what was expected there.
#[derive(Debug, Clone)]
pub(crate) struct PErr {
    rem: usize,
    expected: Vec<&'static str>,
    message: Option<String>,
}

impl<'i> ParserError<In<'i>> for PErr {
    type Inner = Self;

    fn from_input(input: &In<'i>) -> Self {
        PErr { rem: input.input.len(), expected: Vec::new(), message: None }
    }

    /// The branch that got furthest explains the failure best.
    fn or(self, other: Self) -> Self {
        match self.rem.cmp(&other.rem) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => {
                let mut merged = self;
                if merged.message.is_none() {
                    merged.message = other.message;
                }
                for e in other.expected {
                    if !merged.expected.contains(&e) {
                        merged.expected.push(e);
                    }
                }
                merged
            }
        }
    }

    fn into_inner(self) -> Result<Self, Self> {
        Ok(self)
    }
}

type R<T> = Result<T, ErrMode<PErr>>;

fn offset(i: &In<'_>) -> usize {
    i.state - i.input.len()
}

fn fail_expected<T>(i: &In<'_>, what: &'static str) -> R<T> {
    Err(ErrMode::Backtrack(PErr { rem: i.input.len(), expected: vec![what], message: None }))
}

fn fail_message<T>(rem: usize, message: String) -> R<T> {
    Err(ErrMode::Cut(PErr { rem, expected: Vec::new(), message: Some(message) }))
}

fn ws(i: &mut In<'_>) {
    let _: R<&str> = take_while(0.., char::is_whitespace).parse_next(i);
}

/// Skips blanks and consumes `s` if the input starts with it.
fn eat(i: &mut In<'_>, s: &str) -> bool {
    ws(i);
    if i.input.starts_with(s) {
        i.input = &i.input[s.len()..];
        true
    } else {
        false
    }
}

fn expect(i: &mut In<'_>, s: &'static str) -> R<()> {
    if eat(i, s) {
        Ok(())
    } else {
        fail_expected(i, s)
    }
}

/// Whether the input starts with keyword `kw` as a whole word.
fn at_keyword(i: &In<'_>, kw: &str) -> bool {
    i.input.starts_with(kw) && !i.input[kw.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
}

fn eat_keyword(i: &mut In<'_>, kw: &str) -> bool {
    ws(i);
    if at_keyword(i, kw) {
        i.input = &i.input[kw.len()..];
        true
    } else {
        false
    }
}

fn ident<'i>(i: &mut In<'i>) -> R<(&'i str, Span)> {
    ws(i);
    let start = offset(i);
    if !i.input.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return fail_expected(i, "a name");
    }
    let name = take_while(1.., |c: char| c.is_ascii_alphanumeric() || c == '_').parse_next(i)?;
    Ok((name, Span::new(start, offset(i))))
}

/// Checks the limits that bound the parser's recursion and work.
fn check_bounds(text: &str) -> Result<(), OttlError> {
    if text.len() > MAX_STATEMENT_LEN {
        return Err(OttlError::at(
            Span::new(0, 0),
            format!("the statement is {} bytes long; at most {MAX_STATEMENT_LEN} are accepted", text.len()),
        ));
    }
    let (mut depth, mut in_string, mut escaped, mut operators) = (0usize, false, false, 0usize);
    for (at, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(OttlError::at(
                        Span::new(at, at + 1),
                        format!("brackets are nested more than {MAX_DEPTH} deep"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(OttlError::at(
                        Span::new(at, at + 1),
                        format!("more than {MAX_OPERATORS} arithmetic operators in one statement"),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn to_error(text: &str, e: ErrMode<PErr>) -> OttlError {
    let e = match e {
        ErrMode::Backtrack(e) | ErrMode::Cut(e) => e,
        ErrMode::Incomplete(_) => PErr { rem: 0, expected: Vec::new(), message: None },
    };
    let at = text.len() - e.rem.min(text.len());
    let found = match text[at..].chars().next() {
        None => "the end of the statement".to_string(),
        Some(_) => {
            let token: String = text[at..].chars().take(20).collect();
            format!("{token:?}")
        }
    };
    let message = match (e.message, e.expected.as_slice()) {
        (Some(m), _) => m,
        (None, []) => format!("unexpected {found}"),
        (None, [one]) => format!("expected {one}, found {found}"),
        (None, many) => format!("expected one of {}, found {found}", many.join(", ")),
    };
    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    OttlError::at(Span::new(at, end), message)
}

fn run<T>(text: &str, mut p: impl FnMut(&mut In<'_>) -> R<T>) -> Result<T, OttlError> {
    check_bounds(text)?;
    let mut input = In { input: text, state: text.len() };
    let out = p(&mut input).map_err(|e| to_error(text, e))?;
    ws(&mut input);
    if !input.input.is_empty() {
        let e = PErr { rem: input.input.len(), expected: vec!["the end of the statement"], message: None };
        return Err(to_error(text, ErrMode::Backtrack(e)));
    }
    Ok(out)
}

/// Parses a statement: `editor(args) where condition`.
pub fn statement(text: &str) -> Result<Statement, OttlError> {
    run(text, |i| {
        ws(i);
        let start = offset(i);
        let (name, name_span) = ident(i)?;
        if !eat(i, "(") {
            return fail_message(
                i.state - start,
                format!("a statement starts with an editor call such as set(...), found {name:?}"),
            );
        }
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            return fail_message(
                i.state - start,
                format!("editor names must start with a lowercase letter but got '{name}'"),
            );
        }
        let editor = call_rest(i, name, name_span, start)?;
        if !editor.keys.is_empty() {
            return fail_message(
                i.state - editor.keys[0].span().start,
                format!("only paths and converters may be indexed, not editors, but got {name}"),
            );
        }
        let condition = if eat_keyword(i, "where") { Some(expr(i)?) } else { None };
        Ok(Statement { editor, condition })
    })
}

/// Parses a condition (a boolean expression without `where`).
pub fn condition(text: &str) -> Result<Expr, OttlError> {
    run(text, expr)
}

/// Parses a value expression (used by tests and by functions that take one).
pub fn value(text: &str) -> Result<Expr, OttlError> {
    run(text, expr)
}

fn expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let first = and_expr(i)?;
    let mut items = vec![first];
    while eat_keyword(i, "or") {
        items.push(and_expr(i)?);
    }
    Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::Or(items, Span::new(start, offset(i))) })
}

fn and_expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let first = not_expr(i)?;
    let mut items = vec![first];
    while eat_keyword(i, "and") {
        items.push(not_expr(i)?);
    }
    Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::And(items, Span::new(start, offset(i))) })
}

fn not_expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let mut nots = 0usize;
    while eat_keyword(i, "not") {
        nots += 1;
        if nots > MAX_DEPTH {
            // The tree (and its compile and drop) would nest this deep.
            return Err(ErrMode::Cut(PErr {
                rem: i.input.len(),
                expected: Vec::new(),
                message: Some(format!("more than {MAX_DEPTH} `not` in a row")),
            }));
        }
    }
    let mut e = cmp_expr(i)?;
    for _ in 0..nots {
        e = Expr::Not(Box::new(e), Span::new(start, offset(i)));
    }
    Ok(e)
}

fn cmp_expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let left = sum_expr(i)?;
    ws(i);
    let op = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ]
    .into_iter()
    .find(|(s, _)| i.input.starts_with(s));
    let Some((s, op)) = op else { return Ok(left) };
    i.input = &i.input[s.len()..];
    let right = sum_expr(i)?;
    Ok(Expr::Cmp(Box::new(left), op, Box::new(right), Span::new(start, offset(i))))
}

fn sum_expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let mut left = product_expr(i)?;
    loop {
        ws(i);
        let op = if i.input.starts_with('+') {
            MathOp::Add
        } else if i.input.starts_with('-') {
            MathOp::Sub
        } else {
            break;
        };
        i.input = &i.input[1..];
        let right = product_expr(i)?;
        left = Expr::Math(Box::new(left), op, Box::new(right), Span::new(start, offset(i)));
    }
    Ok(left)
}

fn product_expr(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let mut left = primary(i)?;
    loop {
        ws(i);
        let op = if i.input.starts_with('*') {
            MathOp::Mul
        } else if i.input.starts_with('/') {
            MathOp::Div
        } else {
            break;
        };
        i.input = &i.input[1..];
        let right = primary(i)?;
        left = Expr::Math(Box::new(left), op, Box::new(right), Span::new(start, offset(i)));
    }
    Ok(left)
}

fn primary(i: &mut In<'_>) -> R<Expr> {
    ws(i);
    let start = offset(i);
    let span = |i: &In<'_>| Span::new(start, offset(i));
    let Some(c) = i.input.chars().next() else { return fail_expected(i, "a value") };
    match c {
        '(' => {
            i.input = &i.input[1..];
            let inner = expr(i)?;
            expect(i, ")")?;
            Ok(Expr::Group(Box::new(inner), span(i)))
        }
        '"' => {
            let s = string(i)?;
            Ok(Expr::Str(s, span(i)))
        }
        '[' => {
            i.input = &i.input[1..];
            let mut items = Vec::new();
            if !eat(i, "]") {
                loop {
                    items.push(expr(i)?);
                    if eat(i, "]") {
                        break;
                    }
                    expect(i, ",").map_err(|_| expected_at(i, &[",", "]"]))?;
                }
            }
            Ok(Expr::List(items, span(i)))
        }
        '{' => {
            i.input = &i.input[1..];
            let mut items = Vec::new();
            loop {
                if eat(i, "}") {
                    break;
                }
                ws(i);
                if !i.input.starts_with('"') {
                    return Err(expected_at(i, &["a string key", "}"]));
                }
                let key = string(i)?;
                expect(i, ":")?;
                let value = expr(i)?;
                items.push((key, value));
                eat(i, ",");
            }
            Ok(Expr::Map(items, span(i)))
        }
        '0' if i.input[1..].starts_with(['x', 'X']) => {
            i.input = &i.input[2..];
            let hex = take_while(0.., |c: char| c.is_ascii_hexdigit()).parse_next(i)?;
            if hex.is_empty() {
                return fail_message(i.input.len(), "a byte literal needs hex digits after 0x".into());
            }
            match hex::decode(hex) {
                Ok(b) => Ok(Expr::Bytes(b, span(i))),
                Err(e) => fail_message(i.state - start, format!("invalid byte literal 0x{hex}: {e}")),
            }
        }
        c if c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && starts_number(&i.input[1..])) => number(i),
        c if c.is_ascii_alphabetic() => {
            if eat_keyword(i, "nil") {
                return Ok(Expr::Nil(span(i)));
            }
            if eat_keyword(i, "true") {
                return Ok(Expr::Bool(true, span(i)));
            }
            if eat_keyword(i, "false") {
                return Ok(Expr::Bool(false, span(i)));
            }
            for kw in ["where", "and", "or", "not"] {
                if at_keyword(i, kw) {
                    return fail_expected(i, "a value");
                }
            }
            let (name, name_span) = ident(i)?;
            if eat(i, "(") {
                return Ok(Expr::Call(call_rest(i, name, name_span, start)?));
            }
            if c.is_ascii_uppercase() {
                if name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                    return Ok(Expr::Enum(name.to_string(), name_span));
                }
                return fail_message(
                    i.state - name_span.start,
                    format!("{name:?} is neither an enum (upper case) nor a converter call (missing parentheses)"),
                );
            }
            path_rest(i, name, name_span, start).map(Expr::Path)
        }
        _ => fail_expected(i, "a value"),
    }
}

fn expected_at(i: &In<'_>, what: &[&'static str]) -> ErrMode<PErr> {
    ErrMode::Backtrack(PErr { rem: i.input.len(), expected: what.to_vec(), message: None })
}

fn starts_number(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
        || (s.starts_with('.') && s[1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn number(i: &mut In<'_>) -> R<Expr> {
    let start = offset(i);
    let b = i.input.as_bytes();
    let mut n = 0;
    if n < b.len() && (b[n] == b'-' || b[n] == b'+') {
        n += 1;
    }
    let digits = |n: &mut usize| {
        let from = *n;
        while *n < b.len() && b[*n].is_ascii_digit() {
            *n += 1;
        }
        *n > from
    };
    let int_part = digits(&mut n);
    let mut float = false;
    if n < b.len() && b[n] == b'.' && n + 1 < b.len() && b[n + 1].is_ascii_digit() {
        n += 1;
        digits(&mut n);
        float = true;
        if n < b.len() && (b[n] == b'e' || b[n] == b'E') {
            let mut m = n + 1;
            if m < b.len() && (b[m] == b'-' || b[m] == b'+') {
                m += 1;
            }
            if digits(&mut m) {
                n = m;
            }
        }
    }
    if !int_part && !float {
        return Err(expected_at(i, &["a number"]));
    }
    let text = &i.input[..n];
    i.input = &i.input[n..];
    let span = Span::new(start, start + n);
    if float {
        match text.parse::<f64>() {
            Ok(f) => Ok(Expr::Float(f, span)),
            Err(_) => fail_message(i.state - start, format!("invalid number {text:?}")),
        }
    } else {
        match text.parse::<i64>() {
            Ok(v) => Ok(Expr::Int(v, span)),
            Err(_) => fail_message(i.state - start, format!("invalid integer {text:?} (out of the 64-bit range)")),
        }
    }
}

fn string(i: &mut In<'_>) -> R<String> {
    let start = offset(i);
    let rem = i.input.len();
    let body = &i.input[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                i.input = &body[at + 1..];
                return Ok(out);
            }
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        let code = u32::from_str_radix(&digits, 16).ok().filter(|_| digits.len() == n);
                        match (e, code) {
                            ('x', Some(b)) if b < 0x80 => out.push(b as u8 as char),
                            ('x', Some(_)) => {
                                return fail_message(rem, "\\x escapes above 0x7f would not be valid UTF-8".into())
                            }
                            (_, Some(c)) => match char::from_u32(c) {
                                Some(c) => out.push(c),
                                None => return fail_message(rem, format!("invalid unicode escape \\{e}{digits}")),
                            },
                            (_, None) => return fail_message(rem, format!("invalid escape \\{e}{digits}")),
                        }
                    }
                    '0'..='7' => {
                        let rest: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                        match u32::from_str_radix(&format!("{e}{rest}"), 8) {
                            Ok(b) if b < 0x80 && rest.len() == 2 => out.push(b as u8 as char),
                            _ => return fail_message(rem, format!("invalid octal escape \\{e}{rest}")),
                        }
                    }
                    other => {
                        let _ = start;
                        return fail_message(rem - 1 - at, format!("unknown escape sequence \\{other} in a string"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    fail_message(rem, "unterminated string: a closing \" is missing".into())
}

/// The arguments and keys of a call whose name and `(` were read.
fn call_rest(i: &mut In<'_>, name: &str, name_span: Span, start: usize) -> R<Call> {
    let mut args = Vec::new();
    if !eat(i, ")") {
        loop {
            ws(i);
            // `name = value` (but not `name == value`).
            let save = i.input;
            let mut arg_name = None;
            if let Ok((n, s)) = ident(i) {
                ws(i);
                if i.input.starts_with('=') && !i.input.starts_with("==") {
                    i.input = &i.input[1..];
                    arg_name = Some((n.to_string(), s));
                } else {
                    i.input = save;
                }
            } else {
                i.input = save;
            }
            let value = expr(i)?;
            args.push(Arg { name: arg_name, value });
            if eat(i, ")") {
                break;
            }
            if !eat(i, ",") {
                return Err(expected_at(i, &[",", ")"]));
            }
        }
    }
    let keys = keys(i)?;
    Ok(Call { name: name.to_string(), name_span, args, keys, span: Span::new(start, offset(i)) })
}

fn keys(i: &mut In<'_>) -> R<Vec<Key>> {
    let mut out = Vec::new();
    loop {
        // Keys follow their segment directly (no blank before `[`), as in the Collector's
        // examples; a blank would make `f(x) [1]` ambiguous with a list.
        if !i.input.starts_with('[') {
            return Ok(out);
        }
        let start = offset(i);
        i.input = &i.input[1..];
        ws(i);
        let key = if i.input.starts_with('"') {
            let s = string(i)?;
            Key::Str(s, Span::new(start, offset(i) + 1))
        } else if i.input.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            match number(i)? {
                Expr::Int(n, _) => Key::Int(n, Span::new(start, offset(i) + 1)),
                _ => return fail_message(i.state - start, "an index must be an integer".into()),
            }
        } else {
            Key::Expr(Box::new(expr(i)?))
        };
        expect(i, "]")?;
        out.push(key);
    }
}

fn path_rest(i: &mut In<'_>, name: &str, name_span: Span, start: usize) -> R<Path> {
    let mut segments = vec![Segment { name: name.to_string(), span: name_span, keys: keys(i)? }];
    while i.input.starts_with('.') && i.input[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        i.input = &i.input[1..];
        let (n, s) = ident(i)?;
        segments.push(Segment { name: n.to_string(), span: s, keys: keys(i)? });
    }
    Ok(Path { segments, span: Span::new(start, offset(i)) })
}
