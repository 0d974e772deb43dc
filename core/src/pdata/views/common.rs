//! Views of the messages every signal shares: `Resource`, `InstrumentationScope`, `EntityRef`,
//! attributes (`repeated KeyValue`) and `AnyValue` with its arrays and maps.

use super::{bytes_field, str_of, string_field, varint_field, Children};
use crate::pdata::proto;
use crate::pdata::wire::{Fields, Value, WireError};

/// A `Resource`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceView<'a> {
    buf: &'a [u8],
}

impl<'a> ResourceView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ResourceView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::resource::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::resource::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }

    /// The entities the resource describes (OTLP 1.7, in development).
    pub fn entity_refs(&self) -> Children<'a, EntityRefView<'a>> {
        Children::new(self.buf, proto::resource::ENTITY_REFS, EntityRefView::new)
    }

    /// `service.name`, the attribute most lookups want.
    pub fn service_name(&self) -> Result<Option<&'a str>, WireError> {
        Ok(self.attributes().get("service.name")?.and_then(|v| v.as_str()))
    }
}

/// An `EntityRef` of a resource.
#[derive(Clone, Copy, Debug)]
pub struct EntityRefView<'a> {
    buf: &'a [u8],
}

impl<'a> EntityRefView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        EntityRefView { buf }
    }

    pub fn schema_url(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::entity_ref::SCHEMA_URL)
    }

    /// The entity's `type` (`service`, `host`, …).
    pub fn entity_type(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::entity_ref::TYPE)
    }

    /// The keys of the resource attributes that identify the entity.
    pub fn id_keys(&self) -> Strings<'a> {
        Children::new(self.buf, proto::entity_ref::ID_KEYS, str_of)
    }

    /// The keys of the resource attributes that describe the entity.
    pub fn description_keys(&self) -> Strings<'a> {
        Children::new(self.buf, proto::entity_ref::DESCRIPTION_KEYS, str_of)
    }
}

/// A `repeated string` field (strings that are not UTF-8 read as empty).
pub type Strings<'a> = Children<'a, &'a str>;

/// An `InstrumentationScope`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScopeView<'a> {
    buf: &'a [u8],
}

impl<'a> ScopeView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ScopeView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::instrumentation_scope::NAME)
    }

    pub fn name_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::instrumentation_scope::NAME)
    }

    pub fn version(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::instrumentation_scope::VERSION)
    }

    pub fn version_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::instrumentation_scope::VERSION)
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::instrumentation_scope::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::instrumentation_scope::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }
}

/// The attributes (`repeated KeyValue`) held in one field of a message; also a `KeyValueList`
/// ([`Attributes::key_value_list`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    number: u32,
}

impl<'a> Attributes<'a> {
    /// The `KeyValue`s in field `number` of the message `buf` (or of any slice of whole fields
    /// of it that holds them all).
    pub fn new(buf: &'a [u8], number: u32) -> Self {
        Attributes { buf, number }
    }

    /// The entries of an encoded `KeyValueList` (a map-valued `AnyValue`).
    pub fn key_value_list(buf: &'a [u8]) -> Self {
        Attributes::new(buf, proto::key_value_list::VALUES)
    }

    /// Every attribute as (key, value), in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&'a str, AnyValueView<'a>), WireError>> + 'a {
        self.iter_raw().map(|kv| kv.map(|(k, v)| (str_of(k), v)))
    }

    /// Every attribute with its key as raw bytes (not checked as UTF-8), for readers that
    /// compare keys with known ones.
    pub fn iter_raw(&self) -> impl Iterator<Item = Result<(&'a [u8], AnyValueView<'a>), WireError>> + 'a {
        Children::new(self.buf, self.number, |b| b).map(|kv| kv.and_then(raw_key_value))
    }

    /// The value of `key`, if present (the last one wins, as in protobuf maps).
    pub fn get(&self, key: &str) -> Result<Option<AnyValueView<'a>>, WireError> {
        let mut found = None;
        for kv in Children::new(self.buf, self.number, |b| b) {
            // Compare raw bytes: no UTF-8 check for keys that do not match.
            let (k, v) = raw_key_value(kv?)?;
            if k == key.as_bytes() {
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// The number of attributes (duplicated keys counted each time).
    pub fn len(&self) -> Result<usize, WireError> {
        Children::new(self.buf, self.number, |b| b).checked_len()
    }

    pub fn is_empty(&self) -> Result<bool, WireError> {
        Ok(self.len()? == 0)
    }
}

/// The key (raw bytes, not checked as UTF-8) and value of one encoded `KeyValue`, for readers
/// that walk an item's fields themselves and look at a few attributes on the way.
pub fn raw_key_value(buf: &[u8]) -> Result<(&[u8], AnyValueView<'_>), WireError> {
    let (mut key, mut value) = (&[][..], &[][..]);
    for f in Fields::new(buf) {
        let f = f?;
        match f.number {
            proto::key_value::KEY => key = f.bytes()?,
            proto::key_value::VALUE => value = f.bytes()?,
            _ => {}
        }
    }
    Ok((key, AnyValueView::new(value)))
}

/// An `AnyValue`, decoded lazily.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyValueView<'a> {
    buf: &'a [u8],
}

/// The content of an `AnyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyValue<'a> {
    Empty,
    String(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Encoded `ArrayValue` (read it with [`ArrayView::new`] or [`AnyValue::array`]).
    Array(&'a [u8]),
    /// Encoded `KeyValueList` (read it with [`Attributes::key_value_list`] or [`AnyValue::kvlist`]).
    KvList(&'a [u8]),
    Bytes(&'a [u8]),
}

impl<'a> AnyValue<'a> {
    /// The elements, when this is an array.
    pub fn array(&self) -> Option<ArrayView<'a>> {
        match *self {
            AnyValue::Array(b) => Some(ArrayView::new(b)),
            _ => None,
        }
    }

    /// The entries, when this is a map.
    pub fn kvlist(&self) -> Option<Attributes<'a>> {
        match *self {
            AnyValue::KvList(b) => Some(Attributes::key_value_list(b)),
            _ => None,
        }
    }
}

impl<'a> AnyValueView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        AnyValueView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The value (the last of the `oneof` fields wins; a string that is not UTF-8 reads as
    /// `""`; `string_value_strindex`, which only profiles use, reads as no value).
    pub fn get(&self) -> Result<AnyValue<'a>, WireError> {
        use proto::any_value::*;
        let mut out = AnyValue::Empty;
        for f in Fields::new(self.buf) {
            let f = f?;
            out = match (f.number, f.value) {
                (STRING_VALUE, Value::Bytes(b)) => AnyValue::String(str_of(b)),
                (BOOL_VALUE, Value::Varint(v)) => AnyValue::Bool(v != 0),
                (INT_VALUE, Value::Varint(v)) => AnyValue::Int(v as i64),
                (DOUBLE_VALUE, Value::Fixed64(v)) => AnyValue::Double(f64::from_bits(v)),
                (ARRAY_VALUE, Value::Bytes(b)) => AnyValue::Array(b),
                (KVLIST_VALUE, Value::Bytes(b)) => AnyValue::KvList(b),
                (BYTES_VALUE, Value::Bytes(b)) => AnyValue::Bytes(b),
                (n @ STRING_VALUE..=BYTES_VALUE, v) => {
                    return Err(WireError::UnexpectedWireType { field: n, wire_type: v.wire_type() })
                }
                _ => out,
            };
        }
        Ok(out)
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match self.get() {
            Ok(AnyValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.get() {
            Ok(AnyValue::Int(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.get() {
            Ok(AnyValue::Bool(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self.get() {
            Ok(AnyValue::Double(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.get() {
            Ok(AnyValue::Bytes(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<ArrayView<'a>> {
        self.get().ok()?.array()
    }

    pub fn as_kvlist(&self) -> Option<Attributes<'a>> {
        self.get().ok()?.kvlist()
    }
}

/// An `ArrayValue`: its elements as [`AnyValueView`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArrayView<'a> {
    buf: &'a [u8],
}

impl<'a> ArrayView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ArrayView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The elements, in order.
    pub fn values(&self) -> Children<'a, AnyValueView<'a>> {
        Children::new(self.buf, proto::array_value::VALUES, AnyValueView::new)
    }

    pub fn len(&self) -> Result<usize, WireError> {
        self.values().checked_len()
    }

    pub fn is_empty(&self) -> Result<bool, WireError> {
        Ok(self.len()? == 0)
    }
}
