-- The BI role's idle-in-transaction limit: a dashboard that opens a transaction and walks
-- away holds a snapshot that keeps vacuum from cleaning the bars it loads. 60 s, like its
-- statement_timeout (0009); candleflow db migrate applies CANDLEFLOW_READER_STATEMENT_TIMEOUT
-- to both. The role can lift either for itself: the reader guard (candleflow db guard, run by
-- make up) enforces them from outside it.
DO $$
BEGIN
    EXECUTE format(
        'ALTER ROLE candleflow_reader IN DATABASE %I SET idle_in_transaction_session_timeout = %L',
        current_database(), '60s');
END
$$;
