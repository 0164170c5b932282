//! A row's physical address (`ctid`), which the rotation writes back by.
//!
//! Exchanged in PostgreSQL's binary form (block number, then line pointer)
//! so neither side formats or parses text for every row.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tid {
    block: u32,
    offset: u16,
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl Tid {
    fn decode(raw: &[u8]) -> Result<Self, BoxError> {
        match raw {
            [b0, b1, b2, b3, o0, o1] => Ok(Tid {
                block: u32::from_be_bytes([*b0, *b1, *b2, *b3]),
                offset: u16::from_be_bytes([*o0, *o1]),
            }),
            _ => Err("a tid is 6 bytes".into()),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.block);
        out.put_u16(self.offset);
    }
}

impl<'a> FromSql<'a> for Tid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Tid::decode(raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }
}

impl ToSql for Tid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.encode(out);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }

    to_sql_checked!();
}

/// A ctid names one row only within one physical table; a repeat means the
/// scan crossed tables (which the catalog checks refuse) and an UPDATE would
/// write one row's credential into another. Never write such a batch.
pub fn check_distinct(ids: &[Tid]) -> Result<()> {
    let mut seen = ids.to_vec();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::internal(
            "two rows of one batch share a ctid; nothing was written",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_postgres_binary_form() {
        let raw = [0, 1, 0, 2, 0, 7];
        let tid = Tid::decode(&raw).unwrap();
        assert_eq!(
            tid,
            Tid {
                block: 65538,
                offset: 7
            }
        );
        let mut out = BytesMut::new();
        tid.encode(&mut out);
        assert_eq!(&out[..], &raw);
        assert!(Tid::decode(&raw[..5]).is_err());
        assert!(Tid::decode(&[0; 7]).is_err());
    }

    #[test]
    fn refuses_a_batch_with_a_repeated_ctid() {
        let t = |block, offset| Tid { block, offset };
        check_distinct(&[t(0, 1), t(0, 2), t(1, 1)]).unwrap();
        let err = check_distinct(&[t(0, 1), t(1, 1), t(0, 1)]).unwrap_err();
        assert_eq!(err.code(), "ERR_INTERNAL");
    }
}
