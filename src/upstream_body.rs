//! Reading what an upstream (Auth0, an `/api` target, the tenant's JWKS)
//! answered, under a size cap. Its own module, below both the Auth0 client
//! and the client-body extractors: the client depends on it without
//! depending on the request side (`body`, which maps to `ApiError`).

/// An upstream answer's body (Auth0's, an `/api` target's), read up to
/// `cap` bytes: `Ok(None)` when it is larger, or says it is.
pub async fn read_capped_answer(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}
