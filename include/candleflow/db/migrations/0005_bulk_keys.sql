-- Bulk loads into the fact tables: the per-row foreign-key checks from bars and ticks to
-- instruments cost more than the rest of a fresh load (about 12 s per million rows on the
-- 2-core benchmark machine). The loaders now check the instruments once per load instead
-- (SELECT ... FOR KEY SHARE, held until commit: the instrument cannot be deleted under a
-- load), and this trigger keeps the other half of the guarantee: an instrument that still
-- has bars or ticks cannot be deleted, nor its id changed.
ALTER TABLE candleflow.bars DROP CONSTRAINT bars_instrument_id_fkey;
ALTER TABLE candleflow.ticks DROP CONSTRAINT ticks_instrument_id_fkey;

CREATE FUNCTION candleflow.refuse_orphaning_instrument() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM candleflow.bars WHERE instrument_id = OLD.id)
       OR EXISTS (SELECT FROM candleflow.ticks WHERE instrument_id = OLD.id) THEN
        RAISE EXCEPTION 'instrument % (%) still has bars or ticks', OLD.id, OLD.symbol
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER instruments_keep_facts_referenced
    BEFORE DELETE OR UPDATE OF id ON candleflow.instruments
    FOR EACH ROW EXECUTE FUNCTION candleflow.refuse_orphaning_instrument();
