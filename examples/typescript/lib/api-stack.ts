// The API stack: two Docker-image Lambda functions, each created only once its image is in
// ECR. The custom resource calls are the original design's; only the service token changed:
// it is the standalone provider's export instead of a waiter function in this stack.
import * as cdk from "aws-cdk-lib";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

export interface ApiStackProps extends cdk.StackProps {
  /** The CI/CD stack's repositories: textGeneration and practiceMaterial. */
  readonly ecrRepositories: Record<string, ecr.IRepository>;
  /** The export holding the provider's ServiceToken. */
  readonly serviceTokenExport: string;
}

export class ApiStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);

    const serviceToken = cdk.Fn.importValue(props.serviceTokenExport);

    const textGenImageWaiter = new cdk.CustomResource(this, "TextGenImageWaiter", {
      serviceToken: serviceToken,
      resourceType: "Custom::EcrImageWaiter",
      properties: {
        RepositoryName: props.ecrRepositories["textGeneration"].repositoryName,
        ImageTag: "latest",
        MaxRetries: "60",
        RetryDelaySeconds: "30",
      },
    });

    const pracMaterialImageWaiter = new cdk.CustomResource(this, "PracMaterialImageWaiter", {
      serviceToken: serviceToken,
      resourceType: "Custom::EcrImageWaiter",
      properties: {
        RepositoryName: props.ecrRepositories["practiceMaterial"].repositoryName,
        ImageTag: "latest",
        MaxRetries: "60",
        RetryDelaySeconds: "30",
      },
    });

    const textGenFunction = new lambda.DockerImageFunction(this, "TextGenFunction", {
      code: lambda.DockerImageCode.fromEcr(props.ecrRepositories["textGeneration"]),
      memorySize: 1024,
      timeout: cdk.Duration.minutes(5),
    });
    useWaitedImage(textGenFunction, textGenImageWaiter);

    const pracMaterialFunction = new lambda.DockerImageFunction(this, "PracMaterialFunction", {
      code: lambda.DockerImageCode.fromEcr(props.ecrRepositories["practiceMaterial"]),
      memorySize: 1024,
      timeout: cdk.Duration.minutes(5),
    });
    useWaitedImage(pracMaterialFunction, pracMaterialImageWaiter);
  }
}

/**
 * Run the image the waiter found: its ImageUri attribute, `<repository uri>@sha256:<hex>`.
 *
 * The Fn::GetAtt makes CloudFormation create the function only after the waiter succeeded
 * (no addDependency needed), and the digest makes a re-pushed tag reach the function on the
 * next deploy that re-resolves it. `DockerImageCode.fromEcr` still grants Lambda the pull;
 * its `tagOrDigest` cannot take the digest attribute itself, since it tests the unresolved
 * token for "sha256:" and would write the invalid `repo:sha256:...`.
 */
function useWaitedImage(fn: lambda.DockerImageFunction, waiter: cdk.CustomResource): void {
  const cfn = fn.node.defaultChild as lambda.CfnFunction;
  cfn.addPropertyOverride("Code.ImageUri", waiter.getAttString("ImageUri"));
}
