import time
def test_probe(bq):
    job = bq.query("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 1000)) AS x")
    t0 = time.perf_counter()
    try:
        t = job.to_arrow()
        print("rows", t.num_rows, time.perf_counter() - t0)
    except Exception as e:
        print("ERR", type(e), str(e)[:300], time.perf_counter() - t0)
