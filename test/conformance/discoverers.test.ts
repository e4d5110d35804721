import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { createClient } from "node-zookeeper-client";
import { afterAll } from "vitest";
import { nodeIdOfKey, nodesPath } from "../../src/registry/discoverers/keys.js";
import { PrivateServer } from "../harness/index.js";
import { type DiscovererTarget, runDiscovererConformance } from "./discoverer-suite.js";

// The discoverer conformance suite on every discoverer, each against its real server: `local`
// (over the transporter), etcd and ZooKeeper, all on tcp:// (the registry ones with no
// rendezvous directory, so the registry alone tells where peers are).

const dir = mkdtempSync(join(tmpdir(), "flotilla-discoverers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tcp = `tcp://?udp=false&dir=${encodeURIComponent(dir)}`;

let etcd: PrivateServer | undefined;
let zookeeper: PrivateServer | undefined;

const targets: DiscovererTarget[] = [
  { name: "local", options: () => ({ transporter: tcp, discovery: "local" }) },
  {
    name: "etcd",
    setup: async () => {
      etcd = await PrivateServer.start("etcd");
    },
    teardown: async () => etcd?.cleanup(),
    options: () => ({ transporter: tcp, discovery: etcd?.url }),
    listed: async (namespace) => {
      const client = new Etcd3({ hosts: etcd?.address ?? "" });
      try {
        const folder = nodesPath("/flotilla", namespace);
        const keys = await client.getAll().prefix(`${folder}/`).keys();
        return keys.map((key) => nodeIdOfKey(folder, key) ?? key);
      } finally {
        client.close();
      }
    },
  },
  {
    name: "zookeeper",
    setup: async () => {
      zookeeper = await PrivateServer.start("zookeeper");
    },
    teardown: async () => zookeeper?.cleanup(),
    options: () => ({ transporter: tcp, discovery: zookeeper?.url }),
    listed: async (namespace) => {
      const client = createClient(zookeeper?.address ?? "", { spinDelay: 100 });
      try {
        const up = new Promise<void>((resolve) => client.once("connected", () => resolve()));
        client.connect();
        await up;
        const folder = nodesPath("/flotilla", namespace);
        const names = await new Promise<string[]>((resolve, reject) =>
          client.getChildren(folder, (err, children) => (err ? reject(err) : resolve(children))),
        );
        return names.map((name) => nodeIdOfKey(folder, `${folder}/${name}`) ?? name);
      } finally {
        client.close();
      }
    },
  },
];

for (const target of targets) runDiscovererConformance(target);
