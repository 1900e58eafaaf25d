-- wrk script of the OCSP benchmark (ca/examples/ocsp_bench.rs): POSTs one fixed DER OCSP
-- request, read from the file named by OCSP_REQUEST, and prints a machine-readable summary.
--
-- wrk's default wrk.resolve() opens and closes a TCP connection to every address it resolves
-- (a reachability probe) before the run. OpenSSL 3.0's `openssl ocsp -port` responder then
-- spins at 100% CPU for the rest of its life (a client that connects and closes without a
-- request), which would skew the comparison: resolve without probing.
wrk.resolve = function(host, service)
   wrk.addrs = wrk.lookup(host, service)
end

local path = os.getenv("OCSP_REQUEST")
if path == nil then
   error("set OCSP_REQUEST to the DER request file")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/ocsp-request"

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "OCSPBENCH requests=%d duration_us=%d p50_us=%d p99_us=%d connect_errors=%d "
         .. "read_errors=%d write_errors=%d timeouts=%d non2xx=%d\n",
      summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(99.0),
      e.connect, e.read, e.write, e.timeout, e.status))
end
