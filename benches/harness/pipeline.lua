-- wrk script: every write is DEPTH requests back to back (`wrk ... -s pipeline.lua URL -- 16`).
-- wrk counts each response, so its req/s is responses per second; its latencies are per
-- batch and are not reported.
init = function(args)
   local depth = tonumber(args[1]) or 1
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format()
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
