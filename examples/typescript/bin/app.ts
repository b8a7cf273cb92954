#!/usr/bin/env node
// The original two-stack layout: a CI/CD stack that owns the repositories and the build that
// pushes the images, and an API stack whose Docker-image functions wait for them through the
// standalone ecr-image-waiter provider (deployed once per account and region with
// `ecr-image-waiter provider synth -o provider.out && cdk deploy --app provider.out`).
//
// Synthesize offline: `npm ci && CDK_OUTDIR=cdk.out npx tsx bin/app.ts` (or `cdk synth`).
// Context (cdk.json, or -c on the cdk command line):
//   prefix                stack names: <prefix>-CICD and <prefix>-Api
//   repositoryNamePrefix  put before each repository name (e.g. "team/")
//   serviceTokenExport    the export holding the provider's ServiceToken
import * as cdk from "aws-cdk-lib";
import { ApiStack } from "../lib/api-stack";
import { CicdStack } from "../lib/cicd-stack";

const app = new cdk.App();
const context = (key: string, fallback: string): string =>
  (app.node.tryGetContext(key) as string | undefined) ?? fallback;

const prefix = context("prefix", "EcrImageWaiterTs");
// A fixed account and region when none is configured, so that synth works offline and
// gives the same template every time; `cdk deploy` sets the CDK_DEFAULT_* variables.
const env: cdk.Environment = {
  account: process.env.CDK_DEFAULT_ACCOUNT ?? "123456789012",
  region: process.env.CDK_DEFAULT_REGION ?? "us-east-1",
};

const cicdStack = new CicdStack(app, `${prefix}-CICD`, {
  env,
  repositoryNamePrefix: context("repositoryNamePrefix", ""),
});
const apiStack = new ApiStack(app, `${prefix}-Api`, {
  env,
  ecrRepositories: cicdStack.ecrRepositories,
  serviceTokenExport: context("serviceTokenExport", "EcrImageWaiterServiceToken"),
});
apiStack.addStackDependency(cicdStack);

app.synth();
