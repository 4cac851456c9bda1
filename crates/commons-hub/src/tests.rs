//! The routes end to end (`oneshot`) over a temporary store holding a tiny GGUF
//! (`tiny`, two tags) and a tiny safetensors folder with a subfolder (`org/folder`).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::{ModelEntry, Reference, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::git;

/// A GGUF v3 file with F32 tensors and string metadata.
fn write_gguf(path: &Path, strings: &[(&str, &str)], tensors: &[(&str, u64)]) {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    const ALIGN: usize = 32;
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(strings.len() as u64).to_le_bytes());
    for (key, value) in strings {
        string(&mut out, key);
        out.extend_from_slice(&8u32.to_le_bytes());
        string(&mut out, value);
    }
    let mut offset = 0u64;
    for (name, elements) in tensors {
        string(&mut out, name);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&elements.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset = (offset + elements * 4).div_ceil(ALIGN as u64) * ALIGN as u64;
    }
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    let data_start = out.len();
    let mut offset = 0u64;
    for (i, (_, elements)) in tensors.iter().enumerate() {
        out.resize(data_start + offset as usize, 0);
        for e in 0..*elements {
            out.extend_from_slice(&((e as f32) + i as f32).to_le_bytes());
        }
        offset = (offset + elements * 4).div_ceil(ALIGN as u64) * ALIGN as u64;
    }
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    fs::write(path, out).unwrap();
}

/// A safetensors file with F32 tensors.
fn write_safetensors(path: &Path, tensors: &[(&str, u64)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, elements) in tensors {
        let start = data.len();
        for e in 0..*elements {
            data.extend_from_slice(&(e as f32 * 0.25).to_le_bytes());
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

struct Fixture {
    app: Router,
    tiny: ModelEntry,
    tiny_v1: ModelEntry,
    folder: ModelEntry,
    src: tempfile::TempDir,
    _home: tempfile::TempDir,
}

fn import_as(store: &Store, path: &Path, name: &str) -> ModelEntry {
    let opts = ImportOptions {
        name: Some(Reference::parse(name).unwrap()),
        ..Default::default()
    };
    import(store, path, opts, &NoProgress).unwrap().entry
}

fn fixture() -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();

    let gguf = src.path().join("tiny.Q8_0.gguf");
    let meta = [
        ("general.architecture", "llama"),
        ("general.name", "Tiny Llama"),
        ("general.license", "apache-2.0"),
        ("general.organization", "Example"),
    ];
    write_gguf(
        &gguf,
        &meta,
        &[("blk.0.attn_q.weight", 64), ("output.weight", 16)],
    );
    let tiny = import_as(&store, &gguf, "tiny:latest");
    let gguf_v1 = src.path().join("tiny-v1.gguf");
    write_gguf(&gguf_v1, &meta, &[("blk.0.attn_q.weight", 32)]);
    let tiny_v1 = import_as(&store, &gguf_v1, "tiny:v1");

    let folder = src.path().join("Folder-Model");
    fs::create_dir_all(folder.join("1_Pooling")).unwrap();
    write_safetensors(
        &folder.join("model.safetensors"),
        &[("a.weight", 32), ("b.bias", 8)],
    );
    fs::write(
        folder.join("config.json"),
        r#"{"architectures":["BertModel"],"model_type":"bert","max_position_embeddings":512}"#,
    )
    .unwrap();
    fs::write(
        folder.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 8}"#,
    )
    .unwrap();
    fs::write(
        folder.join("README.md"),
        "---\nlicense: mit\nlibrary_name: sentence-transformers\ntags:\n- embeddings\n---\n# Folder\n",
    )
    .unwrap();
    let folder = import_as(&store, &folder, "org/folder:latest");

    Fixture {
        app: crate::router(Arc::new(store)),
        tiny,
        tiny_v1,
        folder,
        src,
        _home: home,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "node.test:8080");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, &[]).await
}

fn sha(entry: &ModelEntry) -> String {
    entry.digest.hex()[..40].to_string()
}

#[tokio::test]
async fn list_filters_by_search_author_and_limit() {
    let f = fixture();
    let ids = |reply: Reply| -> Vec<String> {
        assert_eq!(reply.status, StatusCode::OK);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(get(&f.app, "/api/models").await),
        ["org/folder", "tiny"]
    );
    assert_eq!(ids(get(&f.app, "/api/models?search=TIN").await), ["tiny"]);
    assert_eq!(
        ids(get(&f.app, "/api/models?author=org").await),
        ["org/folder"]
    );
    assert_eq!(
        ids(get(&f.app, "/api/models?limit=1").await),
        ["org/folder"]
    );
    assert_eq!(
        ids(get(&f.app, "/api/models?filter=a&filter=b&search=folder").await),
        ["org/folder"]
    );
    let listed = get(&f.app, "/api/models?search=tiny").await.json();
    assert_eq!(listed[0]["sha"], sha(&f.tiny));
    assert_eq!(
        get(&f.app, "/api/models?limit=x").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn info_resolves_main_tags_and_commit_shas() {
    let f = fixture();
    let info = get(&f.app, "/api/models/tiny").await.json();
    assert_eq!(info["id"], "tiny");
    assert_eq!(info["sha"], sha(&f.tiny), "main is the latest tag");
    assert_eq!(info["gguf"]["architecture"], "llama");
    assert_eq!(info["cardData"]["license"], "apache-2.0");
    let files: Vec<&str> = info["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rfilename"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["README.md", "tiny.Q8_0.gguf"]);

    for rev in ["main", "latest", sha(&f.tiny).as_str()] {
        let info = get(&f.app, &format!("/api/models/tiny/revision/{rev}"))
            .await
            .json();
        assert_eq!(info["sha"], sha(&f.tiny), "{rev}");
    }
    let v1 = get(&f.app, "/api/models/tiny/revision/v1").await.json();
    assert_eq!(v1["sha"], sha(&f.tiny_v1));
    let by_sha = get(
        &f.app,
        &format!("/api/models/tiny/revision/{}", sha(&f.tiny_v1)),
    )
    .await
    .json();
    assert_eq!(by_sha["sha"], sha(&f.tiny_v1));

    let folder = get(&f.app, "/api/models/org/folder/revision/main?blobs=true")
        .await
        .json();
    assert_eq!(folder["author"], "org");
    assert_eq!(folder["library_name"], "sentence-transformers");
    assert!(folder["tags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("embeddings")));
    let weights = folder["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rfilename"] == "model.safetensors")
        .unwrap();
    let layer = f.folder.layer_by_path("model.safetensors").unwrap();
    assert_eq!(weights["lfs"]["sha256"], layer.digest.hex());
    assert_eq!(weights["size"], layer.size);
}

#[tokio::test]
async fn unknown_repos_and_revisions_have_hub_error_codes() {
    let f = fixture();
    for uri in [
        "/api/models/nope",
        "/api/models/org/nope/revision/main",
        "/nope/resolve/main/x.gguf",
        "/a/b/resolve/main/x",
        "/api/models/a%2Fb/tree/main",
    ] {
        let reply = get(&f.app, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(reply.header("x-error-code"), Some("RepoNotFound"), "{uri}");
        assert!(reply.json()["error"].as_str().is_some());
    }
    for uri in [
        "/api/models/tiny/revision/v9",
        "/api/models/tiny/tree/v9",
        "/tiny/resolve/v9/README.md",
        &format!("/tiny/resolve/{}/README.md", "0".repeat(40)),
    ] {
        let reply = get(&f.app, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            reply.header("x-error-code"),
            Some("RevisionNotFound"),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn tree_lists_files_folders_lfs_and_git_ids() {
    let f = fixture();
    let reply = get(
        &f.app,
        "/api/models/org/folder/tree/main?recursive=true&expand=false",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("link").is_none());
    let tree = reply.json();
    let paths: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "1_Pooling",
            "1_Pooling/config.json",
            "README.md",
            "config.json",
            "model.safetensors"
        ]
    );
    assert_eq!(tree[0]["type"], "directory");
    let pooling = fs::read(f.src.path().join("Folder-Model/1_Pooling/config.json")).unwrap();
    assert_eq!(tree[1]["oid"], git::blob_oid(&pooling));
    assert!(tree[1].get("lfs").is_none());
    let weights = &tree[4];
    let layer = f.folder.layer_by_path("model.safetensors").unwrap();
    assert_eq!(weights["lfs"]["oid"], layer.digest.hex());
    let pointer = git::lfs_pointer(layer.digest.hex(), layer.size);
    assert_eq!(weights["oid"], git::blob_oid(pointer.as_bytes()));
    assert_eq!(weights["lfs"]["pointerSize"], pointer.len());

    let top = get(&f.app, "/api/models/org/folder/tree/main").await.json();
    assert_eq!(
        top.as_array().unwrap().len(),
        4,
        "not recursive: the folder, not its files"
    );
    let sub = get(&f.app, "/api/models/org/folder/tree/main/1_Pooling")
        .await
        .json();
    assert_eq!(sub[0]["path"], "1_Pooling/config.json");
    let missing = get(&f.app, "/api/models/org/folder/tree/main/nope").await;
    assert_eq!(missing.header("x-error-code"), Some("EntryNotFound"));
    let expanded = get(&f.app, "/api/models/org/folder/tree/main?expand=true")
        .await
        .json();
    assert_eq!(expanded[0]["lastCommit"]["id"], sha(&f.folder));
}

#[tokio::test]
async fn tree_pages_follow_link_headers() {
    let f = fixture();
    let mut uri = "/api/models/org/folder/tree/main?recursive=true&limit=2".to_string();
    let mut paths = Vec::new();
    let mut pages = 0;
    loop {
        let reply = get(&f.app, &uri).await;
        pages += 1;
        for entry in reply.json().as_array().unwrap() {
            paths.push(entry["path"].as_str().unwrap().to_string());
        }
        let Some(link) = reply.header("link") else {
            break;
        };
        let next = link.strip_prefix("<http://node.test:8080").unwrap();
        uri = next.split_once('>').unwrap().0.to_string();
        assert!(link.ends_with("rel=\"next\""));
    }
    assert_eq!(pages, 3);
    assert_eq!(paths.len(), 5);
}

#[tokio::test]
async fn resolve_sends_the_headers_the_client_caches_by() {
    let f = fixture();
    let gguf = fs::read(f.src.path().join("tiny.Q8_0.gguf")).unwrap();
    let layer = f.tiny.layer_by_path("tiny.Q8_0.gguf").unwrap();

    let head = call(
        &f.app,
        Method::HEAD,
        "/tiny/resolve/main/tiny.Q8_0.gguf",
        &[],
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("x-repo-commit"), Some(sha(&f.tiny).as_str()));
    let quoted = format!("\"{}\"", layer.digest.hex());
    assert_eq!(head.header("x-linked-etag"), Some(quoted.as_str()));
    assert_eq!(head.header("etag"), Some(quoted.as_str()));
    assert_eq!(
        head.header("x-linked-size"),
        Some(gguf.len().to_string().as_str())
    );
    assert_eq!(
        head.header("content-length"),
        Some(gguf.len().to_string().as_str())
    );
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert!(head.headers.keys().all(|k| !k.as_str().contains("xet")));

    let body = get(
        &f.app,
        &format!("/tiny/resolve/{}/tiny.Q8_0.gguf", sha(&f.tiny)),
    )
    .await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(body.body, gguf);

    let config = fs::read(f.src.path().join("Folder-Model/1_Pooling/config.json")).unwrap();
    let small = call(
        &f.app,
        Method::HEAD,
        "/org/folder/resolve/main/1_Pooling/config.json",
        &[],
    )
    .await;
    let quoted = format!("\"{}\"", git::blob_oid(&config));
    assert_eq!(small.header("etag"), Some(quoted.as_str()));
    assert!(small.header("x-linked-etag").is_none());
    assert_eq!(
        get(&f.app, "/org/folder/resolve/main/1_Pooling/config.json")
            .await
            .body,
        config
    );
}

#[tokio::test]
async fn ranges_answer_206_and_416() {
    let f = fixture();
    let gguf = fs::read(f.src.path().join("tiny.Q8_0.gguf")).unwrap();
    let uri = "/tiny/resolve/main/tiny.Q8_0.gguf";
    let part = call(&f.app, Method::GET, uri, &[("range", "bytes=4-11")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, gguf[4..12]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 4-11/{}", gguf.len()).as_str())
    );
    assert_eq!(part.header("content-length"), Some("8"));
    let tail = call(&f.app, Method::GET, uri, &[("range", "bytes=100-")]).await;
    assert_eq!(tail.body, gguf[100..]);
    let beyond = call(
        &f.app,
        Method::GET,
        uri,
        &[("range", &format!("bytes={}-", gguf.len()))],
    )
    .await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", gguf.len()).as_str())
    );
    let card = call(
        &f.app,
        Method::GET,
        "/tiny/resolve/main/README.md",
        &[("range", "bytes=0-2")],
    )
    .await;
    assert_eq!(card.body, b"---");
}

#[tokio::test]
async fn paths_that_leave_the_model_are_refused() {
    let f = fixture();
    for uri in [
        "/tiny/resolve/main/../../../etc/passwd",
        "/tiny/resolve/main/..%2F..%2Fcatalog.db",
        "/tiny/resolve/main/%2e%2e/%2e%2e/catalog.db",
        "/tiny/resolve/main/%2E%2E",
        "/org/folder/resolve/main/1_Pooling%2Fconfig.json",
        "/org/folder/resolve/main/1_Pooling/./config.json",
        "/org/folder/resolve/main/1_Pooling//config.json",
        "/tiny/resolve/main/%00",
    ] {
        let reply = get(&f.app, uri).await;
        assert!(
            matches!(
                reply.status,
                StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND
            ),
            "{uri}: {}",
            reply.status
        );
        assert!(reply.json()["error"].is_string(), "{uri}");
    }
    let missing = get(&f.app, "/tiny/resolve/main/nope.bin").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("x-error-code"), Some("EntryNotFound"));
    assert_eq!(missing.header("x-repo-commit"), Some(sha(&f.tiny).as_str()));
}

#[tokio::test]
async fn generated_card_is_deterministic_and_tells_provenance() {
    let f = fixture();
    let first = get(&f.app, "/tiny/resolve/main/README.md").await;
    let second = get(&f.app, &format!("/tiny/resolve/{}/README.md", sha(&f.tiny))).await;
    assert_eq!(first.body, second.body);
    let quoted = format!("\"{}\"", git::blob_oid(&first.body));
    assert_eq!(first.header("etag"), Some(quoted.as_str()));
    let card = String::from_utf8(first.body).unwrap();
    assert!(card.starts_with("---\nlicense: apache-2.0\n"), "{card}");
    assert!(card.contains("- gguf\n"), "{card}");
    assert!(card.contains("library_name: gguf\n"), "{card}");
    assert!(card.contains("# Tiny Llama\n"), "{card}");
    assert!(card.contains(f.tiny.digest.as_str()), "{card}");
    assert!(card.contains("Example"), "the publisher: {card}");
    assert!(
        !card.contains(f.src.path().to_str().unwrap()),
        "no local paths: {card}"
    );

    // A model with its own README keeps it.
    let readme = get(&f.app, "/org/folder/resolve/main/README.md").await;
    assert!(String::from_utf8(readme.body)
        .unwrap()
        .ends_with("# Folder\n"));
}
