//! Dequantization of tensor data to `f32`, for comparing weights (lineage
//! checks), not for inference: a caller asks for a block-aligned range of
//! elements, so a few windows of a multi-gigabyte tensor cost microseconds.
//!
//! Block layouts follow ggml's `ggml-common.h` and `dequantize_row_*` in
//! `ggml-quants.c`; every block is read from a bounds-checked slice.
//! Types are named as GGUF and safetensors name them (`Q4_K`, `F16`, `BF16`).

/// Why a range could not be dequantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DequantError {
    #[error("dequantizing {dtype} is not supported")]
    Unsupported { dtype: String },
    #[error("{dtype}: elements {first}..{end} are not aligned to its {block}-element blocks")]
    Misaligned {
        dtype: String,
        first: usize,
        end: usize,
        block: usize,
    },
    #[error(
        "{dtype}: elements {first}..{end} need bytes past the end of the tensor data ({len} bytes)"
    )]
    OutOfBounds {
        dtype: String,
        first: usize,
        end: usize,
        len: usize,
    },
}

/// `(elements per block, bytes per block)` of a supported type.
pub fn block_layout(dtype: &str) -> Option<(usize, usize)> {
    Some(match dtype.to_ascii_uppercase().as_str() {
        "F32" => (1, 4),
        "F16" | "BF16" => (1, 2),
        "Q8_0" => (32, 34),
        "Q4_0" => (32, 18),
        "Q4_1" => (32, 20),
        "Q5_0" => (32, 22),
        "Q5_1" => (32, 24),
        "Q4_K" => (256, 144),
        "Q5_K" => (256, 176),
        "Q6_K" => (256, 210),
        _ => return None,
    })
}

/// Appends the values of elements `first..first + count` of a tensor whose
/// raw bytes are `data` to `out`. `first` and `count` must be multiples of
/// the type's block size.
pub fn dequantize(
    dtype: &str,
    data: &[u8],
    first: usize,
    count: usize,
    out: &mut Vec<f32>,
) -> Result<(), DequantError> {
    let upper = dtype.to_ascii_uppercase();
    let (block, block_bytes) = block_layout(&upper).ok_or_else(|| DequantError::Unsupported {
        dtype: dtype.to_string(),
    })?;
    let end = first.saturating_add(count);
    if !first.is_multiple_of(block) || !count.is_multiple_of(block) {
        return Err(DequantError::Misaligned {
            dtype: dtype.to_string(),
            first,
            end,
            block,
        });
    }
    let start_byte = (first / block).saturating_mul(block_bytes);
    let end_byte = (end / block).saturating_mul(block_bytes);
    let bytes = data
        .get(start_byte..end_byte)
        .ok_or_else(|| DequantError::OutOfBounds {
            dtype: dtype.to_string(),
            first,
            end,
            len: data.len(),
        })?;
    out.reserve(count);
    let decode: fn(&[u8], &mut Vec<f32>) = match upper.as_str() {
        "F32" => |b, out| out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "F16" => |b, out| out.push(f16(b, 0)),
        "BF16" => |b, out| {
            out.push(f32::from_bits(
                u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
            ))
        },
        "Q8_0" => q8_0,
        "Q4_0" => q4_0,
        "Q4_1" => q4_1,
        "Q5_0" => q5_0,
        "Q5_1" => q5_1,
        "Q4_K" => q4_k,
        "Q5_K" => q5_k,
        "Q6_K" => q6_k,
        _ => {
            return Err(DequantError::Unsupported {
                dtype: dtype.to_string(),
            })
        }
    };
    // `chunks_exact` hands every decoder a slice of exactly `block_bytes`,
    // which is what makes the fixed indexing in the decoders below safe.
    for chunk in bytes.chunks_exact(block_bytes) {
        decode(chunk, out);
    }
    Ok(())
}

/// IEEE half precision at `at` (little-endian) to f32.
fn f16(b: &[u8], at: usize) -> f32 {
    half_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn half_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = mant * 2^-24.
            let v = mant as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (31, _) => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

// ---- 32-element blocks ------------------------------------------------------

fn q8_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16(b, 0);
    out.extend(b[2..34].iter().map(|&q| d * f32::from(q as i8)));
}

fn q4_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16(b, 0);
    let qs = &b[2..18];
    out.extend(qs.iter().map(|&q| d * (i32::from(q & 0x0f) - 8) as f32));
    out.extend(qs.iter().map(|&q| d * (i32::from(q >> 4) - 8) as f32));
}

fn q4_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16(b, 0), f16(b, 2));
    let qs = &b[4..20];
    out.extend(qs.iter().map(|&q| d * f32::from(q & 0x0f) + m));
    out.extend(qs.iter().map(|&q| d * f32::from(q >> 4) + m));
}

/// The fifth bits of Q5_0/Q5_1: bit j of `qh` belongs to element j.
fn q5_values(qh: u32, qs: &[u8]) -> [i32; 32] {
    let mut v = [0i32; 32];
    for (j, &q) in qs.iter().enumerate().take(16) {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        v[j] = (u32::from(q & 0x0f) | h0) as i32;
        v[j + 16] = (u32::from(q >> 4) | h1) as i32;
    }
    v
}

fn q5_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    out.extend(
        q5_values(qh, &b[6..22])
            .iter()
            .map(|&q| d * (q - 16) as f32),
    );
}

fn q5_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16(b, 0), f16(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    out.extend(q5_values(qh, &b[8..24]).iter().map(|&q| d * q as f32 + m));
}

// ---- 256-element k-quant blocks ----------------------------------------------

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8).
fn scale_min_k4(j: usize, s: &[u8]) -> (f32, f32) {
    if j < 4 {
        (f32::from(s[j] & 63), f32::from(s[j + 4] & 63))
    } else {
        let sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        let m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        (f32::from(sc), f32::from(m))
    }
}

fn q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16(b, 0), f16(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        out.extend(q.iter().map(|&x| d * sc1 * f32::from(x & 0x0f) - dmin * m1));
        out.extend(q.iter().map(|&x| d * sc2 * f32::from(x >> 4) - dmin * m2));
    }
}

fn q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16(b, 0), f16(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let ql = &b[48..176];
    for (chunk, q) in ql.chunks_exact(32).enumerate() {
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let high = |h: u8, u: u8| if h & u != 0 { 16.0 } else { 0.0 };
        out.extend(
            q.iter()
                .zip(qh)
                .map(|(&x, &h)| d * sc1 * (f32::from(x & 0x0f) + high(h, u1)) - dmin * m1),
        );
        out.extend(
            q.iter()
                .zip(qh)
                .map(|(&x, &h)| d * sc2 * (f32::from(x >> 4) + high(h, u2)) - dmin * m2),
        );
    }
}

fn q6_k(b: &[u8], out: &mut Vec<f32>) {
    let ql = &b[0..128];
    let qh = &b[128..192];
    let sc = &b[192..208];
    let d = f16(b, 208);
    let mut y = [0f32; 256];
    for half in 0..2 {
        let (ql, qh, sc) = (&ql[64 * half..], &qh[32 * half..], &sc[8 * half..]);
        let y = &mut y[128 * half..];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = s(0) * q1 as f32;
            y[l + 32] = s(2) * q2 as f32;
            y[l + 64] = s(4) * q3 as f32;
            y[l + 96] = s(6) * q4 as f32;
        }
    }
    out.extend_from_slice(&y);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half(v: f32) -> [u8; 2] {
        // Exact for the small values used here.
        let bits = v.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
        let mant = ((bits >> 13) & 0x3ff) as u16;
        let h = if v == 0.0 {
            sign
        } else {
            sign | ((exp as u16) << 10) | mant
        };
        h.to_le_bytes()
    }

    #[test]
    fn halves_convert() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        assert!(half_to_f32(0x7c00).is_infinite());
        assert_eq!(half_to_f32(u16::from_le_bytes(half(0.5))), 0.5);
    }

    #[test]
    fn q8_0_and_q4_0_and_q4_1_blocks() {
        let mut b = half(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut out = Vec::new();
        dequantize("Q8_0", &b, 0, 32, &mut out).unwrap();
        assert_eq!(out[0], -8.0);
        assert_eq!(out[31], 7.5);

        let mut b = half(2.0).to_vec();
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        out.clear();
        dequantize("q4_0", &b, 0, 32, &mut out).unwrap();
        assert_eq!(out[0], -16.0); // (0 - 8) * 2
        assert_eq!(out[16], 14.0); // (15 - 8) * 2

        let mut b = half(1.0).to_vec();
        b.extend(half(-1.0));
        b.extend((0..16u8).map(|i| i | (i << 4)));
        out.clear();
        dequantize("Q4_1", &b, 0, 32, &mut out).unwrap();
        assert_eq!(out[3], 2.0);
        assert_eq!(out[19], 2.0);
    }

    #[test]
    fn q5_0_uses_the_high_bits() {
        let mut b = half(1.0).to_vec();
        b.extend(0x0001_0001u32.to_le_bytes()); // element 0 and element 16 get bit 4
        b.extend([0u8; 16]);
        let mut out = Vec::new();
        dequantize("Q5_0", &b, 0, 32, &mut out).unwrap();
        assert_eq!(out[0], 0.0); // 16 - 16
        assert_eq!(out[1], -16.0);
        assert_eq!(out[16], 0.0);
    }

    #[test]
    fn ranges_are_checked() {
        let data = [0u8; 34];
        let mut out = Vec::new();
        assert!(matches!(
            dequantize("Q8_0", &data, 0, 64, &mut out),
            Err(DequantError::OutOfBounds { .. })
        ));
        assert!(matches!(
            dequantize("Q8_0", &data, 1, 32, &mut out),
            Err(DequantError::Misaligned { .. })
        ));
        assert!(matches!(
            dequantize("IQ2_XS", &data, 0, 32, &mut out),
            Err(DequantError::Unsupported { .. })
        ));
        assert!(matches!(
            dequantize("Q4_K", &data, 0, usize::MAX - 255, &mut out),
            Err(DequantError::OutOfBounds { .. })
        ));
        assert!(out.is_empty());
    }
}
