//! Small synthetic model files, written byte by byte, so import tests need no downloads.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

/// A GGUF v3 file with F32 tensors and the given string/u32 metadata.
pub fn write_gguf(path: &Path, strings: &[(&str, &str)], file_type: u32, tensors: &[(&str, u64)]) {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    const ALIGN: usize = 32;
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&((strings.len() + 1) as u64).to_le_bytes());
    for (key, value) in strings {
        string(&mut out, key);
        out.extend_from_slice(&8u32.to_le_bytes());
        string(&mut out, value);
    }
    string(&mut out, "general.file_type");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&file_type.to_le_bytes());
    let mut offset = 0u64;
    let mut offsets = Vec::new();
    for (name, elements) in tensors {
        string(&mut out, name);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&elements.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // F32
        out.extend_from_slice(&offset.to_le_bytes());
        offsets.push(offset);
        offset = (offset + elements * 4).div_ceil(ALIGN as u64) * ALIGN as u64;
    }
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    let data_start = out.len();
    for (i, ((_, elements), offset)) in tensors.iter().zip(offsets).enumerate() {
        out.resize(data_start + offset as usize, 0);
        for e in 0..*elements {
            out.extend_from_slice(&((e as f32) + i as f32 * 0.5).to_le_bytes());
        }
    }
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    fs::write(path, out).unwrap();
}

/// A safetensors file with F32 tensors named as given, each `elements` long.
pub fn write_safetensors(path: &Path, tensors: &[(&str, u64)], seed: u8) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, elements) in tensors {
        let start = data.len();
        for e in 0..*elements {
            data.extend_from_slice(&((e as f32) * 0.25 + seed as f32).to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": [elements], "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&header).unwrap();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    fs::write(path, out).unwrap();
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn blob_count(root: &Path) -> usize {
    let mut count = 0;
    for prefix in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        count += fs::read_dir(prefix.unwrap().path()).unwrap().count();
    }
    count
}
