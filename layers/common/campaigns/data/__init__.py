"""The only code that talks to DynamoDB: pynamodb models, conditional writes by caller, repositories."""
