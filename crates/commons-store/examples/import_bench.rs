//! Times `import` of a model into a fresh store, for comparison with `sha256sum`
//! over the same files (see `scripts/bench/`).
//!
//! `cargo run --release -p commons-store --example import_bench -- MODEL_PATH [STORE_DIR]`

use std::path::PathBuf;
use std::time::Instant;

use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let model = PathBuf::from(
        args.next()
            .ok_or("usage: import_bench MODEL_PATH [STORE_DIR]")?,
    );
    let scratch;
    let home = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => {
            scratch = std::env::temp_dir().join(format!("import-bench-{}", std::process::id()));
            scratch.clone()
        }
    };
    let store = Store::open(&home)?;
    let start = Instant::now();
    let outcome = import(&store, &model, ImportOptions::default(), &NoProgress)?;
    let seconds = start.elapsed().as_secs_f64();
    let mib = outcome.total_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "imported {} ({} tensors, {:.0} MiB) in {seconds:.2} s: {:.0} MiB/s",
        outcome.entry.reference(),
        outcome.tensor_count,
        mib,
        mib / seconds
    );
    drop(store);
    std::fs::remove_dir_all(&home)?;
    Ok(())
}
