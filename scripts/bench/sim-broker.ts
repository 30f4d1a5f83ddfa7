import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { parentPort } from "node:worker_threads";
import { Aedes } from "aedes";

/**
 * An aedes broker in a worker thread for the simulator benchmark, so the broker and the
 * publishers each get a core, as with a broker process on the same machine. It posts its port,
 * answers "count" with the publishes it received from clients, and stops on "close".
 */

const port = parentPort;
if (port) {
  const broker = await Aedes.createBroker();
  let received = 0;
  broker.on("publish", (_packet, client) => {
    if (client) received++;
  });
  const server = createServer(broker.handle);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port.postMessage({ port: (server.address() as AddressInfo).port });
  port.on("message", (msg: string) => {
    if (msg === "count") port.postMessage({ count: received });
    else if (msg === "close") {
      broker.close(() => server.close(() => port.postMessage({ closed: true })));
    }
  });
}
