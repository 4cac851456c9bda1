//! safetensors element types.

use serde::{Serialize, Serializer};

macro_rules! dtypes {
    ($($variant:ident = $name:literal, $bits:literal;)*) => {
        /// A safetensors dtype, as spelled in headers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum Dtype {
            $($variant,)*
        }

        impl Dtype {
            pub const ALL: &'static [Dtype] = &[$(Dtype::$variant,)*];

            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Bits per element; sub-byte types (F4, F6) pack elements tightly.
            pub fn bits(self) -> u64 {
                match self {
                    $(Self::$variant => $bits,)*
                }
            }
        }
    };
}

dtypes! {
    BOOL = "BOOL", 8;
    F4 = "F4", 4;
    F6_E2M3 = "F6_E2M3", 6;
    F6_E3M2 = "F6_E3M2", 6;
    U8 = "U8", 8;
    I8 = "I8", 8;
    F8_E5M2 = "F8_E5M2", 8;
    F8_E4M3 = "F8_E4M3", 8;
    F8_E8M0 = "F8_E8M0", 8;
    I16 = "I16", 16;
    U16 = "U16", 16;
    F16 = "F16", 16;
    BF16 = "BF16", 16;
    I32 = "I32", 32;
    U32 = "U32", 32;
    F32 = "F32", 32;
    C64 = "C64", 64;
    F64 = "F64", 64;
    I64 = "I64", 64;
    U64 = "U64", 64;
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Dtype {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &dtype in Dtype::ALL {
            assert_eq!(Dtype::from_name(dtype.name()), Some(dtype));
        }
        assert_eq!(Dtype::from_name("f32"), None, "names are case-sensitive");
        assert_eq!(Dtype::BF16.bits(), 16);
    }
}
