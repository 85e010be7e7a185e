"""Pure text helpers that services and adapters both use; imports only docquery.domain."""
