//! The push and pull flows of the distribution spec, end to end through the router.

mod common;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::{artifact_bytes, request, Node, OCI_MANIFEST};
use commons_store::Digest;

#[tokio::test]
async fn version_check_answers_200_with_the_api_version_header() {
    let node = Node::new();
    for uri in ["/v2/", "/v2"] {
        let reply = node.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header("docker-distribution-api-version"),
            "registry/2.0"
        );
    }
}

#[tokio::test]
async fn chunked_upload_then_manifest_then_pull_by_tag_and_digest() {
    let node = Node::new();
    let blob = b"0123456789abcdefghij".to_vec();
    let digest = Digest::of_bytes(&blob);

    // POST opens a session.
    let started = node
        .call(Method::POST, "/v2/org/model/blobs/uploads/", Body::empty())
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text());
    let location = started.header("location").to_string();
    assert!(
        location.starts_with("/v2/org/model/blobs/uploads/"),
        "{location}"
    );
    assert_eq!(started.header("range"), "0-0");
    assert!(location.ends_with(started.header("docker-upload-uuid")));

    // Two PATCH chunks with Content-Range, in order.
    for (start, chunk) in [(0usize, &blob[..8]), (8, &blob[8..15])] {
        let end = start + chunk.len() - 1;
        let reply = node
            .send(
                request(Method::PATCH, &location)
                    .header(header::CONTENT_RANGE, format!("{start}-{end}"))
                    .header(header::CONTENT_LENGTH, chunk.len())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .body(Body::from(chunk.to_vec()))
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(reply.header("range"), format!("0-{end}"));
        assert_eq!(reply.header("location"), location);
    }
    let status = node.get(&location).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), "0-14");

    // The closing PUT carries the last chunk and the digest of the whole blob.
    let finished = node
        .send(
            request(Method::PUT, &format!("{location}?digest={digest}"))
                .header(header::CONTENT_RANGE, "15-19")
                .body(Body::from(blob[15..].to_vec()))
                .unwrap(),
        )
        .await;
    assert_eq!(finished.status, StatusCode::CREATED, "{}", finished.text());
    assert_eq!(
        finished.header("location"),
        format!("/v2/org/model/blobs/{digest}")
    );
    assert_eq!(finished.header("docker-content-digest"), digest.as_str());
    assert!(node.store.has_blob(&digest));
    node.get(&location)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");

    // A manifest over it, by tag.
    let config = node.push_blob("org/model", b"{}").await;
    let manifest = artifact_bytes(
        &config,
        &digest,
        blob.len(),
        Some("application/x.test"),
        None,
    );
    let manifest_digest = Digest::of_bytes(&manifest);
    let pushed = node
        .send(
            request(Method::PUT, "/v2/org/model/manifests/v1")
                .header(header::CONTENT_TYPE, OCI_MANIFEST)
                .body(Body::from(manifest.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.text());
    assert_eq!(
        pushed.header("location"),
        format!("/v2/org/model/manifests/{manifest_digest}")
    );
    assert_eq!(
        pushed.header("docker-content-digest"),
        manifest_digest.as_str()
    );
    assert!(!pushed.has_header("oci-subject"));

    // HEAD and GET, by tag and by digest: the exact bytes, the media type, the digest.
    for reference in ["v1", manifest_digest.as_str()] {
        let uri = format!("/v2/org/model/manifests/{reference}");
        let head = node.call(Method::HEAD, &uri, Body::empty()).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        assert_eq!(head.header("content-length"), manifest.len().to_string());
        assert_eq!(
            head.header("docker-content-digest"),
            manifest_digest.as_str()
        );
        assert_eq!(head.header("content-type"), OCI_MANIFEST);
        let get = node.get(&uri).await;
        assert_eq!(get.status, StatusCode::OK);
        assert_eq!(get.body, manifest);
        assert_eq!(get.header("content-type"), OCI_MANIFEST);
    }

    // The blob, whole and in ranges.
    let uri = format!("/v2/org/model/blobs/{digest}");
    let head = node.call(Method::HEAD, &uri, Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "20");
    assert_eq!(head.header("docker-content-digest"), digest.as_str());
    let whole = node.get(&uri).await;
    assert_eq!(
        (whole.status, whole.body.as_slice()),
        (StatusCode::OK, blob.as_slice())
    );
    let ranged = |range: &'static str| {
        let uri = uri.clone();
        let node = &node;
        async move {
            node.send(
                request(Method::GET, &uri)
                    .header(header::RANGE, range)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    let part = ranged("bytes=5-9").await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"56789");
    assert_eq!(part.header("content-range"), "bytes 5-9/20");
    assert_eq!(part.header("content-length"), "5");
    let tail = ranged("bytes=-3").await;
    assert_eq!(
        (tail.status, tail.body.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &b"hij"[..])
    );
    let open = ranged("bytes=18-").await;
    assert_eq!(open.body, b"ij");
    let beyond = ranged("bytes=20-").await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.header("content-range"), "bytes */20");
}

#[tokio::test]
async fn a_chunk_out_of_order_is_416_with_the_current_range() {
    let node = Node::new();
    let started = node
        .call(Method::POST, "/v2/m/blobs/uploads/", Body::empty())
        .await;
    let location = started.header("location").to_string();
    let first = node
        .send(
            request(Method::PATCH, &location)
                .header(header::CONTENT_RANGE, "0-3")
                .body(Body::from("abcd"))
                .unwrap(),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let skipped = node
        .send(
            request(Method::PATCH, &location)
                .header(header::CONTENT_RANGE, "10-13")
                .body(Body::from("wxyz"))
                .unwrap(),
        )
        .await;
    skipped.expect_error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");
    assert_eq!(skipped.header("range"), "0-3");
    // Nothing was appended: the session resumes where it was.
    assert_eq!(node.get(&location).await.header("range"), "0-3");

    // A Content-Range that disagrees with Content-Length is refused before writing.
    let lying = node
        .send(
            request(Method::PATCH, &location)
                .header(header::CONTENT_RANGE, "4-9")
                .header(header::CONTENT_LENGTH, 2)
                .body(Body::from("ef"))
                .unwrap(),
        )
        .await;
    lying.expect_error(StatusCode::BAD_REQUEST, "SIZE_INVALID");
    let garbled = node
        .send(
            request(Method::PATCH, &location)
                .header(header::CONTENT_RANGE, "four-nine")
                .body(Body::from("ef"))
                .unwrap(),
        )
        .await;
    garbled.expect_error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");

    // A streamed PATCH without Content-Range appends (docker clients send those).
    let streamed = node
        .call(Method::PATCH, &location, Body::from("efgh"))
        .await;
    assert_eq!(streamed.header("range"), "0-7");
    let digest = Digest::of_bytes(b"abcdefgh");
    let done = node
        .call(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            Body::empty(),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.text());
}

#[tokio::test]
async fn a_wrong_digest_is_digest_invalid_and_nothing_is_stored() {
    let node = Node::new();
    let claimed = Digest::of_bytes(b"what the client meant");
    // Monolithic POST.
    let reply = node
        .call(
            Method::POST,
            &format!("/v2/m/blobs/uploads/?digest={claimed}"),
            Body::from("what the client sent"),
        )
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    assert!(!node.store.has_blob(&claimed));
    assert!(!node
        .store
        .has_blob(&Digest::of_bytes(b"what the client sent")));

    // POST then PUT: the session is gone afterwards.
    let location = node
        .call(Method::POST, "/v2/m/blobs/uploads/", Body::empty())
        .await
        .header("location")
        .to_string();
    let reply = node
        .call(
            Method::PUT,
            &format!("{location}?digest={claimed}"),
            Body::from("what the client sent"),
        )
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    assert_eq!(
        reply.json()["errors"][0]["detail"]["expected"],
        claimed.as_str()
    );
    assert!(!node.store.has_blob(&claimed));
    node.get(&location)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");

    // PUT without a digest, and with a malformed one.
    let location = node
        .call(Method::POST, "/v2/m/blobs/uploads/", Body::empty())
        .await
        .header("location")
        .to_string();
    node.call(Method::PUT, &location, Body::from("x"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    node.call(
        Method::PUT,
        &format!("{location}?digest=md5:abc"),
        Body::empty(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
}

#[tokio::test]
async fn mount_answers_201_when_the_blob_is_here_and_opens_a_session_otherwise() {
    let node = Node::new();
    let digest = node.push_blob("source/model", b"shared weights").await;
    let mounted = node
        .call(
            Method::POST,
            &format!("/v2/target/model/blobs/uploads/?mount={digest}&from=source/model"),
            Body::empty(),
        )
        .await;
    assert_eq!(mounted.status, StatusCode::CREATED, "{}", mounted.text());
    assert_eq!(
        mounted.header("location"),
        format!("/v2/target/model/blobs/{digest}")
    );
    assert_eq!(mounted.header("docker-content-digest"), digest.as_str());

    let missing = Digest::of_bytes(b"not here");
    let session = node
        .call(
            Method::POST,
            &format!("/v2/target/model/blobs/uploads/?mount={missing}&from=source/model"),
            Body::empty(),
        )
        .await;
    assert_eq!(session.status, StatusCode::ACCEPTED);
    assert!(session
        .header("location")
        .starts_with("/v2/target/model/blobs/uploads/"));

    node.call(
        Method::POST,
        "/v2/target/blobs/uploads/?mount=sha256:nope&from=source",
        Body::empty(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    node.call(
        Method::POST,
        &format!("/v2/target/blobs/uploads/?mount={digest}&from=../etc"),
        Body::empty(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "NAME_INVALID");
}

#[tokio::test]
async fn cancelled_and_foreign_uploads_are_blob_upload_unknown() {
    let node = Node::new();
    let location = node
        .call(Method::POST, "/v2/m/blobs/uploads/", Body::empty())
        .await
        .header("location")
        .to_string();
    let cancelled = node.call(Method::DELETE, &location, Body::empty()).await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        node.call(method, &location, Body::from("x"))
            .await
            .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    }
    let digest = Digest::of_bytes(b"x");
    for id in ["0123", "catalog.db", &"z".repeat(32)] {
        node.call(
            Method::PUT,
            &format!("/v2/m/blobs/uploads/{id}?digest={digest}"),
            Body::from("x"),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    }
}

#[tokio::test]
async fn a_manifest_with_a_missing_blob_is_manifest_blob_unknown_and_changes_nothing() {
    let node = Node::new();
    let config = node.push_blob("m", b"{}").await;
    let missing = Digest::of_bytes(b"never uploaded");
    let manifest = artifact_bytes(&config, &missing, 14, None, None);
    let reply = node
        .call(Method::PUT, "/v2/m/manifests/latest", manifest.clone())
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        reply.json()["errors"][0]["detail"]["digest"],
        missing.as_str()
    );
    assert!(node.store.repositories().unwrap().is_empty());
    assert!(node
        .store
        .stored_manifest(&Digest::of_bytes(&manifest))
        .unwrap()
        .is_none());
    node.get("/v2/m/manifests/latest")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");

    // A blob with the wrong size in the descriptor is just as unknown.
    let layer = node.push_blob("m", b"twelve bytes").await;
    let manifest = artifact_bytes(&config, &layer, 13, None, None);
    node.call(Method::PUT, "/v2/m/manifests/latest", manifest)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn invalid_oversized_and_misaddressed_manifests_are_refused() {
    let node = Node::new();
    for body in [
        &b"not json"[..],
        br#"{"schemaVersion": 1}"#,
        br#"{"schemaVersion": 2, "mediaType": "text/plain", "config": {}}"#,
    ] {
        node.call(Method::PUT, "/v2/m/manifests/latest", body.to_vec())
            .await
            .expect_error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    }
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    node.call(Method::PUT, "/v2/m/manifests/latest", huge)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID");
    node.call(Method::PUT, "/v2/m/manifests/.bad-tag", b"{}".to_vec())
        .await
        .expect_error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");

    // By digest: the bytes must hash to it.
    let manifest = node.artifact_manifest("m", b"payload", None, None).await;
    let wrong = Digest::of_bytes(b"other");
    node.call(
        Method::PUT,
        &format!("/v2/m/manifests/{wrong}"),
        manifest.clone(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    let right = Digest::of_bytes(&manifest);
    let reply = node
        .call(Method::PUT, &format!("/v2/m/manifests/{right}"), manifest)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        node.get(&format!("/v2/m/manifests/{right}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_names_digests_and_unknown_things_get_their_codes() {
    let node = Node::new();
    let digest = Digest::of_bytes(b"absent");
    for uri in [
        "/v2/../manifests/latest",
        "/v2/a/../../manifests/latest",
        "/v2/a%2F..%2Fb/manifests/latest",
        "/v2/a%2fb/tags/list",
        "/v2/UPPER/tags/list",
        "/v2/a/-b/tags/list",
    ] {
        node.get(uri)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    }
    for uri in [
        "/v2/m/blobs/sha512:abcd",
        "/v2/m/blobs/sha256:ABCD",
        "/v2/m/manifests/sha256:1234",
        "/v2/m/referrers/not-a-digest",
    ] {
        node.get(uri)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    }
    node.get(&format!("/v2/m/blobs/{digest}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    let head = node
        .call(
            Method::HEAD,
            &format!("/v2/m/blobs/{digest}"),
            Body::empty(),
        )
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    node.get(&format!("/v2/m/manifests/{digest}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    node.get("/v2/m/manifests/latest")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    node.get("/v2/m/tags/list")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    node.get("/v2/m/nothing/here")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    node.call(Method::POST, "/v2/m/manifests/latest", Body::empty())
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED");
}

#[tokio::test]
async fn deleting_tags_and_manifests() {
    let node = Node::new();
    let (manifest, reply) = node.push_artifact("m", "one", b"payload", None, None).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let digest = Digest::of_bytes(&manifest);
    node.call(Method::PUT, "/v2/m/manifests/two", manifest.clone())
        .await;

    let deleted = node
        .call(Method::DELETE, "/v2/m/manifests/one", Body::empty())
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    node.get("/v2/m/manifests/one")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    assert_eq!(node.get("/v2/m/manifests/two").await.status, StatusCode::OK);
    node.call(Method::DELETE, "/v2/m/manifests/one", Body::empty())
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");

    // By digest: every tag goes with it.
    let deleted = node
        .call(
            Method::DELETE,
            &format!("/v2/m/manifests/{digest}"),
            Body::empty(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    node.get("/v2/m/manifests/two")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    node.get("/v2/m/tags/list")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
}

#[tokio::test]
async fn blob_delete_is_unsupported_and_leaves_the_blob() {
    let node = Node::new();
    let digest = node.push_blob("m", b"keep me").await;
    node.call(
        Method::DELETE,
        &format!("/v2/m/blobs/{digest}"),
        Body::empty(),
    )
    .await
    .expect_error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED");
    assert!(node.store.has_blob(&digest));
    let absent = Digest::of_bytes(b"absent");
    node.call(
        Method::DELETE,
        &format!("/v2/m/blobs/{absent}"),
        Body::empty(),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
}
