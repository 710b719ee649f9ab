-- wrk script: unique web-form submissions (so none is a provider retry)
local counter = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1e9))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.format('{"submission_id":"%s-%d","form_type":"general","email":"bench%d@example.com","order_number":"A%d","message":"订单还没发货 where is my order %d"}',
    prefix, counter, counter % 5000, counter % 7000, counter)
  return wrk.format(nil, "/webform", nil, body)
end
