'use strict';

// `osls deploy function` uploads new code to $LATEST and stops there. With snapStart=true every
// event invokes the "snapstart" alias, which only a full `osls deploy` moves to a new published
// version, so the command would report success while the old code keeps serving. Refuse it.

const params = require('./params');

class DeployGuardPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'before:deploy:function:initialize': () => this.refuseWithSnapStart(),
    };
  }

  refuseWithSnapStart() {
    if (!params.fromService(this.serverless).snapStart) return;
    throw new this.serverless.classes.Error(
      'refusing `deploy function` with snapStart=true: it updates $LATEST only, and every ' +
        'event invokes the "snapstart" alias, which it does not move. Run `osls deploy` ' +
        '(make deploy) to publish a new version and move the alias.'
    );
  }
}

module.exports = DeployGuardPlugin;
