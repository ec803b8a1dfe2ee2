// The HTTP side the example receivers share: reads each POST whole, asks
// `verify(headers, body)` for the message, prints one JSON line
// ({"verified": true, "data": ...} or {"verified": false, "error": ...}) and
// answers 204, or 401 when it does not verify. The first line printed is
// {"listening": <port>}.
import http from "node:http";

export function serve(verify) {
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
      let result;
      try {
        // The exact bytes received: a signature covers them, not a re-encoding.
        const body = Buffer.concat(chunks).toString("utf8");
        result = { verified: true, data: await verify(request.headers, body) };
      } catch (error) {
        result = { verified: false, error: `${error.name}: ${error.message}` };
      }
      console.log(JSON.stringify(result));
      response.writeHead(result.verified ? 204 : 401).end();
    });
  });
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    console.log(JSON.stringify({ listening: server.address().port }));
  });
}
