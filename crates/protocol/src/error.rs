/// A request the parser cannot make sense of.
///
/// `Display` is word for word what Redis replies after `-ERR `, because
/// clients and test suites match on that text. After any of these the stream
/// cannot be resynchronised, so the connection has to be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// The byte found where a `$` bulk header should start.
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// Redis skips the two bytes after a bulk without looking at them; we
    /// check them, since anything else means the client's lengths are wrong
    /// and every later argument would be misread.
    #[error("Protocol error: expected CRLF after bulk data")]
    MissingBulkTerminator,
}

#[cfg(test)]
mod tests {
    use super::ProtocolError::*;

    #[test]
    fn display_matches_redis_text() {
        let cases = [
            (
                InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (InvalidBulkLength, "Protocol error: invalid bulk length"),
            (ExpectedDollar('f'), "Protocol error: expected '$', got 'f'"),
            (
                TooBigMultibulkCount,
                "Protocol error: too big mbulk count string",
            ),
            (TooBigBulkCount, "Protocol error: too big bulk count string"),
            (
                TooBigInlineRequest,
                "Protocol error: too big inline request",
            ),
            (
                UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                MissingBulkTerminator,
                "Protocol error: expected CRLF after bulk data",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }
}
