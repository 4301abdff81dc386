-- wrk script: every request carries the bearer token given in the BENCH_TOKEN variable.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
