-- wrk script: every request is METHOD with BODY and a Content-Type
-- (`wrk ... -s body.lua URL -- PUT application/octet-stream VALUE`; an empty CONTENT_TYPE
-- sends none). It sets wrk's own request fields and defines no request(), so wrk formats
-- the request once and sends it as it sends a plain GET: no Lua call per request.
init = function(args)
   wrk.method = args[1] or "GET"
   if args[2] and args[2] ~= "" then
      wrk.headers["Content-Type"] = args[2]
   end
   wrk.body = args[3]
end
